"""Stream fan-out: read access is re-checked once per distinct reader at a path, and per reader correctly."""

from emulator.store import Auth, Change
from emulator.stream import CANCEL, Listener, Registry


class Transport:
    """The part of an asyncio transport a Listener uses, recording what it was sent."""

    def __init__(self):
        self.sent = []

    def is_closing(self):
        return False

    def get_write_buffer_size(self):
        return 0

    def write(self, data):
        self.sent.append(data)


def _listener(auth, path=("tickets",)):
    listener = Listener("ns", path, None, auth)
    listener.attach(Transport(), chunked=False)
    return listener


def _write(registry):
    registry.on_commit(Change(seq=1, ns="ns", kind="put", base=("tickets", "t1"), sets=[(("tickets", "t1"), "x")],
                              auth=Auth(), rendered=['"x"']))


def test_one_rule_evaluation_per_distinct_reader_at_a_path_per_write():
    asked = []

    def can_read(listener):
        asked.append(listener.auth.uid)
        return True

    registry = Registry(can_read=can_read)
    alice = [_listener(Auth(kind="user", uid="alice", token={"sub": "alice"})) for _ in range(50)]
    bob = [_listener(Auth(kind="user", uid="bob", token={"sub": "bob"})) for _ in range(50)]
    for listener in alice + bob:
        registry.add(listener)
    _write(registry)
    assert sorted(asked) == ["alice", "bob"]
    assert all(len(l._transport.sent) == 1 for l in alice + bob)  # each got the event
    _write(registry)
    assert len(asked) == 4  # asked again on the next write: the data may have changed


def test_a_reader_that_lost_access_is_cancelled_and_the_others_are_not():
    registry = Registry(can_read=lambda listener: bool(listener.auth.token.get("agent")))
    alice = [_listener(Auth(kind="user", uid="alice", token={"sub": "alice"})) for _ in range(3)]
    alice_as_agent = _listener(Auth(kind="user", uid="alice", token={"sub": "alice", "agent": True}))
    for listener in [*alice, alice_as_agent]:
        registry.add(listener)
    _write(registry)
    assert all(l.closed and l._transport.sent[-1] == CANCEL for l in alice)
    assert not alice_as_agent.closed and CANCEL not in alice_as_agent._transport.sent  # same uid, other claims
