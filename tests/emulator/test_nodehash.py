"""The SDK's node hash, byte for byte: the hashes below were produced by the Firebase JS SDK 12 itself.

Recorded with `DataSnapshot._node.hash()` after reading each value (written over REST, so stored as the
emulator stores it) through the SDK. A transaction sends this hash; if ours differed, every transaction
would fail with `datastale` forever. tests/jssdk/hash.test.mjs checks the same live, against the SDK.
"""

import pytest

from emulator import nodehash, values

SDK_HASHES = [
    ('string', "hello", 'z6sRbrNLwbHX5fdjpvsTtWgXUFc='),
    ('unicode', "héllo 🎉 日本", '1ziMTactS9wIsWbUtXPaKvsOKT0='),
    ('int', 42, 'bQ5XV5L9riGZgerGMb/8Z87RxeI='),
    ('negative', -7, '4kvJSUZG0kcu4u9l8qT9VvnCkTI='),
    ('float', 3.14159, 'rYZTh5GPpcpS36h2C4adc5r4dZk='),
    ('big', 1e+300, 'PATxuxN46FZOmKG2i19P8ZCsqpw='),
    ('tiny', 5e-324, 'AVzIJwC869iLHq/DQh6bzLDrVO4='),
    ('True', True, 'E5z61QM0lN/U2WsOnusszCTkR8M='),
    ('False', False, 'aSSNoqcS4oQwJ2xxH20rvpp3zP0='),
    ('zero', 0, '7ysMph9WPitGP7poMnMHMVPtUlI='),
    ('object', {"b": 2, "a": 1, "c": {"d": "x"}}, 'EfswPZSAZjaCSWKaPuYHtb4H8Zo='),
    ('array', [1, "two", False], 'Fhn9Q1Krj4fEzG50f2UalI+p21g='),
    ('int-keys', {"9": "b", "10": "a", "-1": "c", "x": "d", "007": "e"}, 'FTiGEeNL3ei56NsWmzaB225/GqE='),
    ('leaf-num-priority', {".value": "v", ".priority": 5}, 'Tv383fJW0ltIHHUn0jBZXDacXbE='),
    ('leaf-str-priority', {".value": 12, ".priority": "p"}, 'd+noSAXxl1Cu2zCC+aiOH0A/5jA='),
    ('obj-priority', {".priority": 1.5, "k": "v"}, 'WhlWM9ipbzwzvKKi7zkhuldUXwQ='),
    ('children-priorities', {"a": {".value": 1, ".priority": "z"}, "b": {".value": 2, ".priority": 1}, "c": 3, "d": {".value": 4, ".priority": "a"}}, 'dfaGs+0J1Ivm0S+sfo6aIy3PExY='),
]


@pytest.mark.parametrize("name, value, expected", SDK_HASHES, ids=[c[0] for c in SDK_HASHES])
def test_hash_matches_the_sdk(name, value, expected):
    assert nodehash.node_hash(values.normalize(value, 1)) == expected


def test_the_empty_node_hashes_to_the_empty_string():
    assert nodehash.node_hash(None) == ""
