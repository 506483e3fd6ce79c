"""The emulator's JSON codec (emulator.values.dumps / loads): orjson on the hot paths, the standard library for
what orjson refuses, and the same values either way."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from emulator import values

_KEYS = st.text(min_size=1, max_size=8).filter(values.is_valid_key)
_LEAVES = (st.none() | st.booleans() | st.integers(-(2**53), 2**53)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))
_TREES = st.recursive(_LEAVES, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
                      max_leaves=30)


@settings(max_examples=400, deadline=None)
@given(_TREES)
def test_dumps_reads_back_as_the_standard_library_writes_it(value):
    text = values.dumps(value)
    assert json.loads(text) == json.loads(json.dumps(value, separators=(",", ":"), ensure_ascii=False))
    assert values.loads(text) == json.loads(text)
    assert values.loads(text.encode()) == json.loads(text)


def test_compact_output_is_the_standard_librarys_for_tickets():
    ticket = {"subject": "Ça ne marche pas \u2028", "priority_scores": {"P1": 0.25, "P2": 0.5}, "n": [1, None, True]}
    assert values.dumps(ticket) == json.dumps(ticket, separators=(",", ":"), ensure_ascii=False)
    assert values.dumps(ticket, pretty=True) == json.dumps(ticket, indent=2, separators=(",", " : "),
                                                           ensure_ascii=False)


def test_what_orjson_refuses_goes_through_the_standard_library():
    # A lone surrogate (Python can hold it; the REST layer refuses it before it is stored) and an
    # integer past 64 bits are written as the standard library writes them.
    assert values.dumps({"s": "\ud800"}) == '{"s":"\ud800"}'
    assert values.dumps(2**70) == str(2**70)
    # A journal line written with ASCII escapes of a lone surrogate still reads back.
    assert values.loads('{"s":"\\ud800"}') == {"s": "\ud800"}
