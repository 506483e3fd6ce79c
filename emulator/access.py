"""Security rules applied to requests: who may read a location, who may commit a write.

The admin (`owner`) bypasses rules, as with Firebase. Everyone else is checked against the
namespace's compiled RuleSet: reads and stream opens here, writes as a guard inside the store's
single commit point (so a multi-path update is all or nothing), and open streams again after
every change near them (a stream that loses read access gets `cancel`).
"""

import logging

from emulator import values
from emulator.errors import BadRequest, PermissionDenied
from emulator.query import ORDER_BY_KEY, ORDER_BY_PRIORITY, ORDER_BY_VALUE
from emulator.rules import RuleSet, RulesError
from emulator.rules import Context as RulesContext
from emulator.store import Auth

PERMISSION_DENIED = "Permission denied"
VALUE_INDEX = ".value"  # the .indexOn entry that indexes children by their own value
_log = logging.getLogger(__name__)


def auth_variable(auth: Auth):
    """The `auth` variable rules see: None, or {uid, provider, token}."""
    if auth.kind != "user":
        return None
    claims = auth.token or {}
    if "firebase" not in claims and "sub" not in claims and "user_id" not in claims:
        return dict(claims)  # auth_variable_override: the object is `auth` itself
    provider = (claims.get("firebase") or {}).get("sign_in_provider") if isinstance(claims.get("firebase"), dict) else None
    return {"uid": auth.uid, "provider": provider or "custom", "token": claims}


class Access:
    """Rules enforcement for one database.

    Args:
      db: the store (rules sources live in `db.rules`, keyed by namespace).
      default_source: the rules of a namespace that has none.
    """

    def __init__(self, db, default_source: str):
        self.db = db
        self.default_source = default_source
        self._compiled: dict[str, tuple[str, RuleSet]] = {}
        self._warned: set = set()

    @staticmethod
    def compile(source: str) -> RuleSet:
        """Parse a rules document. Raises BadRequest naming the line and column of the problem."""
        try:
            return RuleSet.parse(source)
        except RulesError as exc:
            raise BadRequest(str(exc)) from exc

    def ruleset(self, ns: str) -> RuleSet:
        source = self.db.rules.get(ns, self.default_source)
        cached = self._compiled.get(ns)
        if cached is None or cached[0] is not source:
            cached = (source, self.compile(source))
            self._compiled[ns] = cached
        return cached[1]

    def can_read(self, ns: str, path: tuple, auth: Auth, query=None) -> bool:
        if auth.kind == "admin":
            return True
        ctx = RulesContext(auth=auth_variable(auth), root=self.db.roots.get(ns), now=self.db.clock())
        return self.ruleset(ns).can_read(path, ctx, query)

    def check_read(self, ns: str, path: tuple, auth: Auth, query=None) -> None:
        """Raise PermissionDenied unless `auth` may read `path` (with `query`)."""
        if not self.can_read(ns, path, auth, query):
            raise PermissionDenied(PERMISSION_DENIED)
        if query is not None:
            self.indexed(ns, path, query.order_by)

    def guard(self, change, root_before, now: int) -> None:
        """The store's write guard: raise PermissionDenied unless the rules allow the whole write."""
        if change.auth.kind == "admin":
            return
        ctx = RulesContext(auth=auth_variable(change.auth), root=root_before, now=now)
        decision = self.ruleset(change.ns).check_write(change.sets, ctx)
        if not decision.allowed:
            _log.info("write denied at %s: %s", values.path_str(decision.path or ()), decision.reason)
            raise PermissionDenied(PERMISSION_DENIED)

    def indexed(self, ns, path, order_by) -> bool:
        """Whether the rules index `order_by` at `path`; warn once per (namespace, path, index) if not.

        Keys and priorities are always indexed. Ordering by value needs `".indexOn": ".value"`
        and ordering by a child needs that child's path, as in production, which refuses such
        a query with `Index not defined`; Firebase's emulator serves it and warns, and so do we.
        """
        if order_by in (ORDER_BY_KEY, ORDER_BY_PRIORITY):
            return True
        index = VALUE_INDEX if order_by == ORDER_BY_VALUE else order_by
        indexed = {_index_path(entry) for entry in self.ruleset(ns).index_on(path)}
        key = (ns, path, index)
        if index not in indexed and key not in self._warned:
            self._warned.add(key)
            _log.warning('Using an unspecified index. Consider adding ".indexOn": "%s" at %s to your security rules '
                         "for better performance (production Firebase refuses this query).",
                         index, values.path_str(path))
        return index in indexed


def _index_path(entry: str) -> str:
    """An .indexOn entry as a query names it: "/a//b/" and "a/b" are the same child."""
    return entry if entry == VALUE_INDEX else "/".join(s for s in entry.split("/") if s)
