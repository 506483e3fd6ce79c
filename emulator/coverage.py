"""The security rules coverage report, at the URLs of Firebase's database emulator.

`GET /.inspect/coverage?ns=<namespace>` is a standalone HTML page: the namespace's current rules,
every rule and every condition in them (each operand of `&&`/`||`, each `? :` test) coloured by
what it gave, and a table of the counts. `GET /.inspect/coverage.json?ns=<namespace>` is the same
data as JSON (`print=pretty` indents it):

    {"ns": "<namespace>", "rules": "<rules source>" or null,
     "summary": {"rules": n, "rules_evaluated": n, "expressions": n, "expressions_evaluated": n},
     "report": [<expression>, ...]}           one per rule, in source order

    <expression> = {"path": "/tickets/$ticketId/.write" (rules only), "text": "auth != null && ...",
                    "location-start": "13:24", "location-end": "13:41",
                    "evaluations": n, "results": {"true": n, "false": n, "error": n},
                    "status": "not-evaluated" | "errors" | "always-true" | "always-false" | "true-and-false",
                    "values": [{"value": true, "count": n}, {"value": false, "count": n}],
                    "children": [<expression>, ...]}     the conditions directly inside it

`text`, `location-start`/`location-end` (0-based "line:column", the end inclusive), `values` (the
results seen, zero counts left out) and `children` are named and counted as in Firebase's emulator's
report, which also lists the values of non-boolean sub-expressions; this one counts booleans only,
so that counting stays two integer increments per evaluation. An `error` is a run that failed or
gave a non-boolean (both deny). Counts start again at zero whenever the namespace's rules are
replaced; a namespace without rules of its own (the built-in allow-all) has an empty report. The
report is open to anyone, as Firebase's emulator serves it.
"""

from __future__ import annotations

import bisect
import json
from html import escape

from aiohttp import web

from emulator.errors import BadRequest
from emulator.rest import CORS_HEADERS, RestApi
from emulator.rules.probes import Probe

HTML_PATH = "/.inspect/coverage"
JSON_PATH = "/.inspect/coverage.json"
NOT_EVALUATED, ERRORS = "not-evaluated", "errors"
ALWAYS_TRUE, ALWAYS_FALSE, TRUE_AND_FALSE = "always-true", "always-false", "true-and-false"
_LEGEND = ((NOT_EVALUATED, "never evaluated"), (ALWAYS_TRUE, "always true"), (ALWAYS_FALSE, "always false"),
           (TRUE_AND_FALSE, "true and false"), (ERRORS, "errors"))
_READ_METHODS = ("GET", "HEAD")


def inspect_handlers(api: RestApi) -> dict:
    """The report's routes for `RestApi.inspect_handlers`: raw path -> fn(request, method, ns)."""

    def rules_of(ns: str) -> tuple[str | None, list[tuple[str, Probe]]]:
        source = api.db.rules.get(ns)
        if source is None:
            return None, []
        return source, [(path, rule.probe) for path, rule in api.access.ruleset(ns).rules()]

    async def as_json(request: web.Request, method: str, ns: str) -> web.Response:
        _check_method(method, JSON_PATH)
        report = json_report(ns, *rules_of(ns))
        indent = 2 if request.query.get("print") == "pretty" else None
        return web.Response(text=json.dumps(report, ensure_ascii=False, indent=indent),
                            content_type="application/json", charset="utf-8", headers=CORS_HEADERS)

    async def as_html(_request: web.Request, method: str, ns: str) -> web.Response:
        _check_method(method, HTML_PATH)
        return web.Response(text=html_report(ns, *rules_of(ns)), content_type="text/html", charset="utf-8",
                            headers=CORS_HEADERS)

    return {JSON_PATH: as_json, HTML_PATH: as_html}


def json_report(ns: str, source: str | None, rules: list[tuple[str, Probe]]) -> dict:
    """The report as JSON-ready data (the shape is in the module docstring).

    Args:
      ns: the namespace.
      source: its rules document, or None when it has none of its own.
      rules: (location, probe of the whole rule) for every rule, from `RuleSet.rules()`.
    """
    lines = _Lines(source or "")

    def expression(probe: Probe, path: str | None) -> dict:
        out = {"path": path} if path is not None else {}
        out.update({
            "text": probe.text,
            "location-start": lines.firebase(probe.start), "location-end": lines.firebase(probe.end - 1),
            "evaluations": probe.runs, "results": {"true": probe.true, "false": probe.false, "error": probe.errors},
            "status": status(probe),
            "values": [{"value": value, "count": count}
                       for value, count in ((True, probe.true), (False, probe.false)) if count],
            "children": [expression(child, None) for child in probe.children],
        })
        return out

    return {"ns": ns, "rules": source, "summary": _summary(rules),
            "report": [expression(probe, path) for path, probe in rules]}


def status(probe: Probe) -> str:
    """What an expression's counts say: not-evaluated, errors, always-true, always-false or true-and-false."""
    if probe.runs == 0:
        return NOT_EVALUATED
    if probe.errors:
        return ERRORS
    if not probe.false:
        return ALWAYS_TRUE
    return ALWAYS_FALSE if not probe.true else TRUE_AND_FALSE


def html_report(ns: str, source: str | None, rules: list[tuple[str, Probe]]) -> str:
    """The report as a standalone HTML page (inline CSS, nothing fetched), arguments as for `json_report`."""
    title = f"Rules coverage: {escape(ns)}"
    if source is None:
        body = (f"<p>The namespace <code>{escape(ns)}</code> has no rules of its own: the built-in rules allow "
                "every read and write, and there is nothing to cover. Set rules with "
                "<code>PUT /.settings/rules.json</code>.</p>")
        return _page(title, body)
    lines = _Lines(source)
    rows = [(path, probe, depth) for path, root in rules for probe, depth in _with_depth(root)]
    missed = [(path, probe) for path, root in rules for probe in _outermost_unevaluated(root)]
    counts = _summary(rules)
    legend = " ".join(f'<span class="{name}">{label}</span>' for name, label in _LEGEND)
    parts = [f"<p>{counts['rules_evaluated']} of {counts['rules']} rules and {counts['expressions_evaluated']} of "
             f"{counts['expressions']} expressions (rules and the conditions inside them) evaluated since these "
             "rules were loaded. Locations are line:column, counted from 1. "
             f'JSON: <a href="{JSON_PATH}?ns={escape(ns)}">{JSON_PATH}?ns={escape(ns)}</a></p>',
             f'<p class="legend">{legend}</p>',
             f"<h2>Never evaluated ({len(missed)})</h2>",
             "<p>Conditions inside an expression that never ran are not listed again.</p>"]
    if missed:
        parts.append('<ul class="missed">' + "".join(
            f"<li><code>{escape(path)}</code> at {lines.human(p.start)}: <code>{escape(p.text)}</code></li>"
            for path, p in missed) + "</ul>")
    else:
        parts.append("<p>Every expression was evaluated at least once.</p>")
    parts += ["<h2>Rules</h2>", f"<pre>{_marked_source(source, rules)}</pre>", "<h2>Every expression</h2>",
              "<table><tr><th>Location</th><th>Line</th><th>Expression</th><th>Evaluated</th><th>True</th>"
              "<th>False</th><th>Errors</th><th>Status</th></tr>"]
    for path, probe, depth in rows:
        where = escape(path) if depth == 0 else "&nbsp;&nbsp;" * depth + "&#8627;"
        parts.append(f'<tr class="{status(probe)}"><td><code>{where}</code></td><td>{lines.human(probe.start)}</td>'
                     f"<td><code>{escape(probe.text)}</code></td><td>{probe.runs}</td><td>{probe.true}</td>"
                     f"<td>{probe.false}</td><td>{probe.errors}</td><td>{status(probe)}</td></tr>")
    parts.append("</table>")
    return _page(title, "\n".join(parts))


class _Lines:
    """Line and column of an offset in a text."""

    def __init__(self, text: str):
        self.starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, offset) - 1
        return line, offset - self.starts[line]

    def firebase(self, offset: int) -> str:
        """0-based "line:column", as Firebase's emulator writes locations."""
        return "%d:%d" % self.position(offset)

    def human(self, offset: int) -> str:
        """1-based "line:column", as editors and the emulator's rules errors count."""
        line, column = self.position(offset)
        return f"{line + 1}:{column + 1}"


def _summary(rules: list[tuple[str, Probe]]) -> dict:
    probes = [probe for _, root in rules for probe in root.walk()]
    return {"rules": len(rules), "rules_evaluated": sum(1 for _, root in rules if root.runs),
            "expressions": len(probes), "expressions_evaluated": sum(1 for probe in probes if probe.runs)}


def _check_method(method: str, path: str) -> None:
    if method not in _READ_METHODS:
        raise BadRequest(f'Invalid method: "{method}" on {path}. The coverage report is read with GET.')


def _with_depth(probe: Probe, depth: int = 0):
    yield probe, depth
    for child in probe.children:
        yield from _with_depth(child, depth + 1)


def _outermost_unevaluated(probe: Probe):
    if probe.runs == 0:
        yield probe
        return
    for child in probe.children:
        yield from _outermost_unevaluated(child)


def _marked_source(source: str, rules: list[tuple[str, Probe]]) -> str:
    """The rules source, escaped, each expression in a span coloured by its status, one block per line."""
    out: list[str] = []

    def mark(start: int, end: int, probes: list[Probe], path: str) -> None:
        pos = start
        for probe in probes:
            out.append(escape(source[pos:probe.start]))
            counts = f"evaluated {probe.runs}: true {probe.true}, false {probe.false}, errors {probe.errors}"
            out.append(f'<span class="{status(probe)}" title="{escape(path)} {counts}">')
            mark(probe.start, probe.end, probe.children, path)
            out.append("</span>")
            pos = probe.end
        out.append(escape(source[pos:end]))

    pos = 0
    for path, probe in rules:
        mark(pos, probe.start, [], path)
        mark(probe.start, probe.end, [probe], path)
        pos = probe.end
    mark(pos, len(source), [], "")
    # An expression never spans lines (JSON strings cannot hold a raw newline), so no span crosses one.
    return "".join(f'<span class="line">{line}</span>' for line in "".join(out).split("\n"))


_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#1f2328}
code,pre{font:13px/1.5 ui-monospace,Menlo,Consolas,monospace}
pre{background:#f6f8fa;border:1px solid #d0d7de;padding:.75rem 0;overflow:auto;counter-reset:line}
pre .line{display:block;padding-right:1rem;white-space:pre}
pre .line::before{counter-increment:line;content:counter(line);display:inline-block;width:3.5em;
  margin-right:1em;padding-right:.5em;text-align:right;color:#8c959f;border-right:1px solid #d0d7de}
.not-evaluated{background:#eaeef2;outline:1px dashed #8c959f}
.always-true{background:#c8f0d2}.always-false{background:#ffe2b8}
.true-and-false{background:#cfe3ff}.errors{background:#ffc8c8}
pre span[title]{border-radius:2px}
.legend span{padding:.1em .5em;margin-right:.5em;border-radius:3px}
table{border-collapse:collapse}td,th{border:1px solid #d0d7de;padding:.2em .6em;text-align:left;vertical-align:top}
td:nth-child(n+4):not(:last-child){text-align:right}
"""


def _page(title: str, body: str) -> str:
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{_STYLE}</style></head>\n<body><h1>{title}</h1>\n{body}\n</body></html>\n")
