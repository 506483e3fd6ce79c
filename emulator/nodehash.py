"""The hash the Firebase SDKs compute over a node, byte for byte, for compare-and-set over the WebSocket.

A transaction sends the hash of the value it started from (`h` in a put); the server commits only
if the stored node still hashes the same, else it answers `datastale`. The SDK's recipe
(`LeafNode.hash`, `ChildrenNode.hash` in @firebase/database): a leaf hashes
`[priority:<type>:<text>:]<typeof value>:<text>`, numbers as the 16 hex digits of their IEEE-754
double; an object hashes `[priority:...:]` then `:<key>:<child hash>` for every child in priority
order (no priority first, then numbers, then strings; ties by key, integer keys first); the empty
node hashes to the empty string. Digests are SHA-1 over UTF-8, in standard base64 with padding.
"""

import base64
import hashlib
import struct

from emulator import query, values

_PRIORITY = ".priority"
_VALUE = ".value"


def node_hash(node) -> str:
    """The SDK's hash of a stored node (see `values.normalize` for the stored form); '' when absent."""
    if node is None:
        return ""
    if not isinstance(node, dict):
        return _leaf_hash(node, None)
    if _VALUE in node:
        return _leaf_hash(node[_VALUE], node.get(_PRIORITY))
    text = _priority_text(node.get(_PRIORITY))
    kids = [(k, v) for k, v in node.items() if k != _PRIORITY]
    kids.sort(key=lambda kv: (query._value_key(values.priority_of(kv[1])), query._name_key(kv[0])))
    for key, child in kids:
        child_hash = node_hash(child)
        if child_hash:
            text += f":{key}:{child_hash}"
    return _sha1(text) if text else ""


def _leaf_hash(value, priority) -> str:
    text = _priority_text(priority)
    if isinstance(value, bool):
        text += "boolean:" + ("true" if value else "false")
    elif isinstance(value, (int, float)):
        text += "number:" + _double_hex(value)
    else:
        text += "string:" + value
    return _sha1(text)


def _priority_text(priority) -> str:
    if priority is None:
        return ""
    if isinstance(priority, (int, float)) and not isinstance(priority, bool):
        return f"priority:number:{_double_hex(priority)}:"
    return f"priority:string:{priority}:"


def _double_hex(number) -> str:
    return struct.pack(">d", float(number)).hex()


def _sha1(text: str) -> str:
    return base64.b64encode(hashlib.sha1(text.encode("utf-8", "surrogatepass")).digest()).decode("ascii")
