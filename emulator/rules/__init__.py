"""Firebase Realtime Database security rules as a pure library (no I/O; stdlib plus google-re2).

`RuleSet.parse(text)` loads a `database.rules.json` (or raises `RulesError` naming line and column);
`can_read`, `check_write` and `index_on` answer for a `Context` (auth, stored tree, time), and
`rules()` lists every rule with its coverage counters. Modules: `jsonsource` (JSON with positions),
`lexer`, `parser` and `regex` (expressions), `checker` (load-time checks), `evaluator` and `members`
(running a rule), `probes` (coverage counters), `snapshot` (data and newData views), `document`
(the rules tree), `ruleset` (the decisions). Imports only `emulator.values` and
`emulator.query` from outside this package, and `re2` (regexes run in linear time, see `regex`).
"""

from emulator.rules.errors import RulesError
from emulator.rules.ruleset import Context, Decision, RuleSet

__all__ = ["Context", "Decision", "RuleSet", "RulesError"]
