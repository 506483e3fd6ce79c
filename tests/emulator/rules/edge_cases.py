"""Rules edge cases whose verdict production Firebase was recorded giving, restated in this project's terms.

The recordings (a live database answering reads under one `.read` rule each, made by the targaryen
project's `bin/targaryen-specs`; a regex refusal reported in its issue 143) are summarised in the
README's Security rules section. Each case here says the same thing with this project's own data:
a `.read` rule at `/cases/$case`, who reads `/cases/c1` (auth: None when signed out, else `{"uid",
"token"}`), the whole database at that moment, an optional query, and the verdict. `recorded` is
False for a case that is not itself in the recordings but follows from them (kept so that a fix
cannot overshoot). `tests/emulator/test_rules_edges.py` runs them over REST and
`tests/jssdk/rules-edge.test.mjs` over the JS SDK (`python -m tests.emulator.rules.edge_cases`
prints them as JSON for it).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

ALLOWED = "allowed"   # the rule is true: the read succeeds
DENIED = "denied"     # the rule is false without an error: `(rule) || true` allows the read
ERROR = "error"       # the rule fails: even `(rule) || true` denies the read
REFUSED = "refused"   # the rules do not load (Firebase refuses to deploy them)

NULL_MEMBERS = "a member of null is null"
FORBIDDEN_KEYS = "keys Firebase forbids inside child() and hasChild()"
DIVISION_BY_ZERO = "division by zero is NaN"
QUERY_DEFAULTS = "query.* on a plain read"
LOADING = "what loads and what is refused"
UNDETERMINED = "not recorded, decided by analogy"
CATEGORIES = (NULL_MEMBERS, FORBIDDEN_KEYS, DIVISION_BY_ZERO, QUERY_DEFAULTS, LOADING, UNDETERMINED)

ANN = {"uid": "ann@example.com", "token": {}}  # some auth systems use the e-mail address as the uid
KIM = {"uid": "agent-kim", "token": {"team": "support"}}
BLOCKLIST = {"blocked": {"mallory": True}, "cases": {"c1": "a case"}}


@dataclass(frozen=True)
class Case:
    """One read under one rule, and what Firebase answers."""

    category: str
    rule: str
    verdict: str
    auth: dict | None = None
    data: object = None
    query: dict | None = None  # SDK-style: {"orderBy": "$value" | "$key" | "<child path>", "startAt": ..., ...}
    recorded: bool = True


CASES = [
    # Signed out, auth is null and every member of it is null: comparisons are plain false or true.
    Case(NULL_MEMBERS, "auth.uid !== 'blocked-user'", ALLOWED),
    Case(NULL_MEMBERS, "auth.token.team.lead == null", ALLOWED),
    Case(NULL_MEMBERS, "!(auth.token == null)", DENIED),
    Case(NULL_MEMBERS, "'support' == auth.token.team", DENIED),
    Case(NULL_MEMBERS, "auth.token.team == 'support'", DENIED),
    Case(NULL_MEMBERS, "'support' === auth.token.team", DENIED),
    Case(NULL_MEMBERS, "auth.token.team === 'support'", DENIED),
    Case(NULL_MEMBERS, "'support' != auth.token.team", ALLOWED),
    Case(NULL_MEMBERS, "auth.token.team != 'support'", ALLOWED),
    Case(NULL_MEMBERS, "'support' !== auth.token.team", ALLOWED),
    Case(NULL_MEMBERS, "auth.token.team !== 'support'", ALLOWED),
    Case(NULL_MEMBERS, "!(auth.uid === 'alice')", ALLOWED, recorded=False),
    Case(NULL_MEMBERS, "auth.token.team == 'support'", ALLOWED, auth=KIM, recorded=False),
    # ... but null is still no string, number or object to work with.
    Case(NULL_MEMBERS, "auth.token.team.length > 1", ERROR),
    Case(NULL_MEMBERS, "auth.uid.contains('a')", ERROR),
    Case(NULL_MEMBERS, "root.child('users/' + auth.uid).exists()", ERROR),
    Case(NULL_MEMBERS, "-auth.token.level == -1", ERROR),

    # A key with ".", "#", "$", "[" or "]" names a child that cannot exist; reading it is no error.
    Case(FORBIDDEN_KEYS, "root.child('blocked/' + auth.uid).val() != true", ALLOWED, auth=ANN, data=BLOCKLIST),
    Case(FORBIDDEN_KEYS, "root.hasChild('blocked/' + auth.uid) == false", ALLOWED, auth=ANN, data=BLOCKLIST),
    Case(FORBIDDEN_KEYS, "root.hasChildren(['blocked/' + auth.uid]) == false", ALLOWED, auth=ANN, data=BLOCKLIST),
    Case(FORBIDDEN_KEYS, "root.child('blocked/ann@example.com').val() != true", ALLOWED, data=BLOCKLIST),
    Case(FORBIDDEN_KEYS, "root.hasChild('blocked/ann@example.com') == false", ALLOWED, data=BLOCKLIST),
    Case(FORBIDDEN_KEYS, "root.hasChildren(['blocked/ann@example.com']) == false", ALLOWED, data=BLOCKLIST),
    Case(FORBIDDEN_KEYS, "root.child('blocked/mallory').val() != true", DENIED, data=BLOCKLIST, recorded=False),
    Case(FORBIDDEN_KEYS, "root.child('blocked/a#b$c[d]').exists()", DENIED, data=BLOCKLIST, recorded=False),

    # x / 0 is NaN: it prints as "NaN" and is neither above nor below anything.
    Case(DIVISION_BY_ZERO, "(10 / 0 + '') == 'NaN'", ALLOWED),
    Case(DIVISION_BY_ZERO, "10 / 0 > 3", DENIED),
    Case(DIVISION_BY_ZERO, "10 / 0 < 3", DENIED),
    Case(DIVISION_BY_ZERO, "now / 0 != now / 0", ALLOWED, recorded=False),
    Case(DIVISION_BY_ZERO, "root.child('stats/solved').val() / root.child('stats/total').val() >= 0", DENIED,
         data={"stats": {"solved": 3, "total": 0}}, recorded=False),

    # A plain read is ordered by key; a query says what it asks for.
    Case(QUERY_DEFAULTS, "query.orderByKey == true && query.orderByValue == false && query.orderByPriority == false",
         ALLOWED),
    Case(QUERY_DEFAULTS, "query.orderByKey != null && query.orderByValue != null && query.orderByPriority != null",
         ALLOWED),
    Case(QUERY_DEFAULTS, "query.orderByChild == null && query.startAt == null && query.endAt == null"
                         " && query.equalTo == null && query.limitToFirst == null && query.limitToLast == null",
         ALLOWED),
    Case(QUERY_DEFAULTS, "query.orderByKey == false && query.orderByValue == true && query.orderByPriority == false",
         ALLOWED, query={"orderBy": "$value"}),
    Case(QUERY_DEFAULTS, "query.orderByChild == 'status/code'", ALLOWED, query={"orderBy": "status/code"}),
    Case(QUERY_DEFAULTS, "query.startAt == 'open' && query.limitToLast == 10", ALLOWED,
         query={"orderBy": "$value", "startAt": "open", "limitToLast": 10}),
    Case(QUERY_DEFAULTS, "query.orderByKey", DENIED, query={"orderBy": "owner"}, recorded=False),

    # Firebase refuses a rule that may end with a number, a property val() cannot have, an empty regex
    # alternative; it accepts a method named by a string literal in brackets, and nothing else in brackets.
    Case(LOADING, "auth.token.team === 'support' ? 7 : true", REFUSED),
    Case(LOADING, "root.val().missing == false", REFUSED),
    Case(LOADING, "root.child('status').val().matches(/^(open|closed|)$/)", REFUSED),
    Case(LOADING, "root['exists']() == false", ALLOWED),
    Case(LOADING, "auth.token.team['contains']('port') == true", ALLOWED, auth=KIM),
    Case(LOADING, "root['exi' + 'sts']() == false", REFUSED),
    Case(LOADING, "root[$case]() == false", REFUSED),
    Case(LOADING, "auth.token.team['doesNotExist']('port') == false", REFUSED, auth=KIM),
    Case(LOADING, "root.val() > true", REFUSED),
    Case(LOADING, "root.child('status').val().matches(/^(open|closed)?$/)", ALLOWED, data={"status": "open"},
         recorded=False),

    # Ordering against a null literal: refused here like `root.val() > true`; Firebase's verdict is unknown.
    Case(UNDETERMINED, "root.val() > null", REFUSED, recorded=False),
]


def as_json() -> str:
    """The cases as a JSON array of objects (for the Node test)."""
    return json.dumps([asdict(case) for case in CASES], indent=1)


if __name__ == "__main__":
    print(as_json())
