"""libFuzzer (atheris) over the security rules engine, for long runs; not part of `make test`.

Run: `python -m bench.fuzz_rules [-max_total_time=600] [-runs=N] [corpus_dir ...]` (libFuzzer flags).
Each input becomes a rules document: the raw text, or a fuzzed expression placed in .read, .write
and .validate under $wildcards. Loading must succeed or raise RulesError naming a line and column
inside the text; evaluating what loaded against a few trees, auth objects and writes must never
raise. A crash is saved by libFuzzer as `crash-<sha1>` with the input. Without atheris installed
(`pip install atheris`), it says so and exits 0. tests/hostile/test_rules_fuzz.py runs the same
checks from Hypothesis in CI.
"""

import json
import sys
import tempfile
from pathlib import Path

try:
    import atheris
except ImportError:  # optional: the wheel needs a matching platform (or clang to build)
    atheris = None

ROOT = Path(__file__).resolve().parents[1]
_MAX_TEXT = 2000
_TREES = [
    None,
    {"a": 1, "b": {"c": "x", ".priority": 2}},
    {"tickets": {"t1": {"uid": "u1", "subject": "hi", "status": "new"}}, "x": {".value": True, ".priority": "p"}},
]
_AUTHS = [None, {"uid": "u1", "provider": "anonymous", "token": {"agent": True, "email": "a@b.c"}}]
_READS = [(), ("a",), ("tickets", "t1"), ("x", "y", "z")]
_WRITES = [[(("a",), {"b": 1})], [(("tickets", "t2"), {"uid": "u1", "subject": "s"}), (("x",), None)], [((), "v")]]


def check_one(text: str) -> None:
    """Load `text` as rules; evaluate what loads. Raises AssertionError (or anything) on a bug."""
    from emulator.rules import Context, RuleSet, RulesError

    try:
        ruleset = RuleSet.parse(text)
    except RulesError as error:
        lines = text.split("\n")
        assert 1 <= error.line <= len(lines), (error.line, len(lines))
        assert 1 <= error.column <= len(lines[error.line - 1]) + 1, (error.column, error.line)
        return
    for root in _TREES:
        for auth in _AUTHS:
            context = Context(auth=auth, root=root, now=1_700_000_000_000)
            for path in _READS:
                assert isinstance(ruleset.can_read(path, context), bool)
            for sets in _WRITES:
                assert isinstance(ruleset.check_write(sets, context).allowed, bool)


def _document(data: bytes) -> str:
    fdp = atheris.FuzzedDataProvider(data)
    as_expression = fdp.ConsumeBool()
    text = fdp.ConsumeUnicode(_MAX_TEXT)
    if not as_expression:
        return text
    rules = {".read": text, ".write": text, "$a": {".validate": text, ".write": text, "$b": {".read": text}}}
    return json.dumps({"rules": rules}, indent=1, ensure_ascii=fdp.ConsumeBool())


def _test_one_input(data: bytes) -> None:
    check_one(_document(data))


def _seed_corpus() -> str:
    folder = Path(tempfile.mkdtemp(prefix="fuzz-rules-"))
    (folder / "project-rules").write_bytes(b"\x00" + (ROOT / "database.rules.json").read_bytes())
    for i, expression in enumerate(["auth != null && data.child('uid').val() === auth.uid",
                                    "newData.val().matches(/^[a-z]+$/i) || $a.length < 3",
                                    "root.child('x').exists() ? now > 5 : query.limitToFirst <= 10"]):
        (folder / f"expression-{i}").write_bytes(b"\x01" + expression.encode())
    return str(folder)


def main() -> int:
    if atheris is None:
        print("atheris is not installed (pip install atheris): nothing to fuzz.")
        return 0
    with atheris.instrument_imports():
        import emulator.rules  # noqa: F401 (instrumented for coverage feedback)
    argv = list(sys.argv)
    if not any(not arg.startswith("-") for arg in argv[1:]):
        argv.append(_seed_corpus())
    atheris.Setup(argv, _test_one_input)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main())
