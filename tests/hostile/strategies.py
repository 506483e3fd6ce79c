"""Hypothesis strategies for the hostile-input tests: weighted choices, and Realtime Database requests.

Keys, paths, bodies and query parameters are mostly well-formed, colliding and small, so requests build
on each other; now and then they sit on a limit (768-byte keys, 32-deep paths, 2**53, 1e308) or break
a rule (invalid keys, NaN, lone surrogates, bad server values and priorities).
"""

import json

from hypothesis import strategies as st


def weighted(*choices):
    """One of `(weight, strategy)` choices, drawn in proportion to the weights (shrinking to the first)."""
    total = sum(weight for weight, _ in choices)

    def pick(n):
        for weight, strategy in choices:
            if n < weight:
                return strategy
            n -= weight
        raise AssertionError(n)

    return st.integers(0, total - 1).flatmap(pick)


# ---- Realtime Database requests ---------------------------------------------------------------------

# Few distinct keys, so requests overwrite, nest under and delete each other's data.
COMMON_KEYS = ["a", "b", "c", "0", "1", "2", "3", "10", "x y", "-Nx", "é", "日本", "😀", "٣", "%41", "+", "~", "'"]
# 768 UTF-8 bytes is the limit: one or two bytes either side, in 1-, 2-, 3- and 4-byte characters.
BOUNDARY_KEYS = ["k" * 768, "k" * 769, "é" * 384, "é" * 384 + "k", "€" * 256, "€" * 255 + "kk", "€" * 256 + "k",
                 "😀" * 192, "😀" * 191 + "kkkk", "😀" * 192 + "k"]
INVALID_KEYS = ["", ".", "..", "a.b", "$", "$x", "#", "[", "]", "a/b", "\x00", "\x01", "\x1f", "\x7f", "a\tb",
                "\n", ".priority", ".value", ".sv", ".foo"]
# Mostly keys that collide; now and then a key at the size boundary, an invalid one, or any short text.
KEYS = weighted((40, st.sampled_from(COMMON_KEYS)), (2, st.sampled_from(BOUNDARY_KEYS)),
                (1, st.sampled_from(INVALID_KEYS)), (1, st.text(max_size=4)))
NUMBERS = st.one_of(
    st.integers(-10, 10),
    st.sampled_from([2**31 - 1, 2**31, 2**53 - 1, 2**53, 2**53 + 1, -(2**53) - 1, 10**20, 2**63, 10**308, -0.0,
                     0.5, 1.0, 2.5, 1e308, -1e308, 5e-324, 0.1]),
    st.floats(allow_nan=False, allow_infinity=False),
)
STRINGS = st.one_of(st.text(max_size=8), st.sampled_from(["", "NaN", "Infinity", "null", "{}", "é😀", "\u2028"]))
PRIORITIES = st.sampled_from([1, 2.0, -3.5, "p", "", 2**53 + 1, 0])
BAD_PRIORITIES = st.sampled_from([True, {"a": 1}, [1]])
SERVER_VALUES = weighted(
    (4, st.sampled_from([{".sv": "timestamp"}, {".sv": {"increment": 1}}, {".sv": {"increment": -2.5}},
                         {".sv": {"increment": 2**53}}, {".sv": {"increment": 1e308}}, {".sv": {"increment": -1e308}}])),
    (1, st.sampled_from([{".sv": "now"}, {".sv": {"increment": "1"}}, {".sv": {"increment": True}},
                         {".sv": "timestamp", "x": 1}, {".sv": {"increment": 1, "by": 2}}, {".sv": None}])),
)
PRIMITIVES = st.one_of(st.none(), st.booleans(), NUMBERS, STRINGS)
PRIORITY_OR_BAD = weighted((9, PRIORITIES), (1, BAD_PRIORITIES))
LEAVES = weighted(
    (16, PRIMITIVES), (2, SERVER_VALUES),
    (2, st.builds(lambda v, p: {".value": v, ".priority": p}, PRIMITIVES, PRIORITY_OR_BAD)),
)


def _with_priority(children: dict, priority) -> dict:
    return {**children, ".priority": priority}


VALUES = st.recursive(
    LEAVES,
    lambda inner: weighted(
        (3, st.lists(inner, max_size=4)),
        (6, st.dictionaries(KEYS, inner, max_size=4)),
        (1, st.builds(_with_priority, st.dictionaries(KEYS, inner, max_size=3), PRIORITY_OR_BAD)),
    ),
    max_leaves=10,
)
RAW_BODIES = st.sampled_from([
    b"NaN", b"-Infinity", b"1e999", b"-1e999", b"1" + b"0" * 400, b"1" + b"0" * 5000, b"1e-400", b"-0",
    b'"\\ud800"', b'{"\\udfff": 1}', b'{"a": "\\ud83d\\ude00"}', b'{"a": 1', b'{"a": 1} x', b"\xff", b"",
    b"  ", b"\xef\xbb\xbf1", b"[1,]", b"{'a': 1}", b"0x10", b"01", b"-", b'{"a":1,"a":2}',
    b"[" * 3000 + b"]" * 3000, b'"a\x01"', b'{"a": {"b": null}}', b"[]", b"{}", b"null", b'""',
])
BODIES = weighted(
    (9, st.tuples(VALUES, st.booleans()).map(lambda t: json.dumps(t[0], ensure_ascii=t[1]).encode())),
    (1, RAW_BODIES),
)
# A relative update path of a multi-path PATCH: "a/b", with stray slashes and bad segments now and then.
UPDATE_PATHS = weighted(
    (12, st.lists(st.sampled_from(["a", "b", "c", "0", "1"]), min_size=1, max_size=3).map("/".join)),
    (4, st.lists(KEYS, min_size=1, max_size=3).map("/".join)),
    (1, st.sampled_from(["", "/", "a//b", "/a/", "a/b/"])),
)
PATCH_BODIES = weighted(
    (8, st.tuples(st.dictionaries(UPDATE_PATHS, VALUES, max_size=4), st.booleans())
     .map(lambda t: json.dumps(t[0], ensure_ascii=t[1]).encode())),
    (1, BODIES),
)
PATHS = weighted(
    (12, st.lists(KEYS, max_size=3)),
    (1, st.tuples(st.integers(29, 33), st.lists(st.sampled_from(["a", "b", ""]), max_size=1))
     .map(lambda t: ["d"] * t[0] + t[1])),
    (1, st.lists(st.sampled_from(["a", "", "b"]), max_size=4)),  # empty segments: "/a//b/"
)
PRINT = weighted((12, st.none()), (2, st.sampled_from(["silent", "pretty"])), (1, st.just("loud")))
FORMAT = weighted((12, st.none()), (2, st.just("export")), (1, st.just("xml")))
NAMESPACE = weighted((20, st.none()), (1, st.sampled_from(["Bad_NS", "", "-x"])))

QUERY_BOUNDS = st.sampled_from(["1", "2.5", '"a"', '"b"', "null", "true", '{"x":1}', "[1]", "NaN", '"\\ud800"',
                                "1e999", "9" * 30, '"\u00e9"', "x"])
# Mostly well-formed queries (so answers get checked), some plain reads with options, some anything goes.
QUERIES = weighted(
    (6, st.fixed_dictionaries({"orderBy": st.sampled_from(['"$key"', '"$value"', '"$priority"', '"a"'])}, optional={
        "limitToFirst": st.sampled_from(["1", "2", "3"]), "equalTo": st.sampled_from(['"a"', "1", "true", "null"]),
        "startAt": st.sampled_from(['"b"', "1", "null"]), "endAt": st.sampled_from(['"c"', "2.5"]),
    })),
    (3, st.fixed_dictionaries({}, optional={"shallow": st.sampled_from(["true", "false", "yes"]),
                                            "print": st.sampled_from(["pretty", "silent", "loud"]),
                                            "format": st.sampled_from(["export", "xml"])})),
    (2, st.fixed_dictionaries({}, optional={
        "orderBy": st.sampled_from(['"$key"', '"$value"', '"$priority"', '"a"', '"a/b"', '"a.b"', "$key", '""', '"/"',
                                    "1", '"b"']),
        "limitToFirst": st.sampled_from(["1", "2", "0", "-1", "x", "1.5", "99999999999999999999", ""]),
        "limitToLast": st.sampled_from(["1", "3", "0", "x"]),
        "startAt": QUERY_BOUNDS, "endAt": QUERY_BOUNDS, "equalTo": QUERY_BOUNDS, "startAfter": QUERY_BOUNDS,
        "endBefore": QUERY_BOUNDS,
        "shallow": st.sampled_from(["true", "false", "yes"]),
        "print": st.sampled_from(["pretty", "silent", "loud"]),
        "format": st.sampled_from(["export", "xml"]),
    })),
)
