"""Minimal reproductions of what the hostile-input tests found in the emulator.

Fixed findings are plain regression tests. Open ones are strict xfails that name the file to fix,
so they turn into failures (and get their xfail removed) once fixed.
"""

from __future__ import annotations

import time
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from emulator.rules import Context, RuleSet, RulesError

ADMIN = {"Authorization": "Bearer owner"}


@pytest.fixture
def at(emulator):
    """URL prefix of a fresh location (append `.json`)."""
    return f"{emulator.url}/findings/{uuid.uuid4().hex[:10]}"


# ---- fixed (emulator/values.py, rest.py, query.py, server.py, rules/regex.py) ---------------------


def test_an_integer_beyond_any_double_is_a_400_not_a_500(http, at):
    response = http.put(f"{at}.json", data=b"1" + b"0" * 400)
    assert response.status_code == 400, response.text


def test_a_lone_surrogate_is_refused_instead_of_poisoning_every_read(http, at, emulator):
    for body in (b'"\\ud800"', b'{"\\udfff": 1}', b'{"a": ["x\\uDBFFy"]}'):
        assert http.put(f"{at}.json", data=body).status_code == 400, body
    assert http.put(f"{at}.json", data=b'"\\ud83d\\ude00"').json() == "\U0001F600"  # a pair is one character
    assert http.get(f"{emulator.url}/.json").status_code == 200


def test_an_increment_that_overflows_is_refused_not_stored_as_infinity(http, at):
    assert http.put(f"{at}.json", data=b"1e308").status_code == 200
    response = http.put(f"{at}.json", data=b'{".sv": {"increment": 1e308}}')
    assert response.status_code == 400 and "finite" in response.json()["error"]
    assert http.get(f"{at}.json").json() == 1e308


def test_an_increment_past_2_to_the_53_rounds_like_a_double(http, at):
    assert http.put(f"{at}.json", data=str(2**53).encode()).status_code == 200
    assert http.put(f"{at}.json", data=b'{".sv": {"increment": 1}}').status_code == 200
    assert http.get(f"{at}.json").json() == 2**53  # 2**53 + 1 has no double


def test_keys_of_non_ascii_digits_are_not_array_indexes(http, at):
    response = http.put(f"{at}.json", json={"\u0663": 1, "\u0661": 2})  # Arabic-Indic 3 and 1
    assert response.json() == {"\u0663": 1, "\u0661": 2}
    assert http.get(f"{at}.json").json() == {"\u0663": 1, "\u0661": 2}


def test_an_integral_priority_is_exported_as_an_integer(http, at):
    http.put(f"{at}.json", data=b'{"x": 1, ".priority": 2.0}').raise_for_status()
    assert http.get(f"{at}.json?format=export").text == '{"x":1,".priority":2}'


def test_a_percent_escape_that_is_not_utf8_is_an_invalid_path(http, at):
    response = http.put(f"{at}/%ff.json", data=b"1")
    assert response.status_code == 400 and response.json()["error"] == "Invalid path: Invalid token in path"
    assert http.get(f"{at}.json").json() is None


def test_a_query_never_returns_priority_or_value_as_children(http, at):
    http.put(f"{at}.json", data=b'{"o": {"a": 1, "b": 2, ".priority": 5}, "l": {".value": 5, ".priority": 1}}')
    assert http.get(f'{at}/o.json?orderBy="$key"').json() == {"a": 1, "b": 2}
    assert http.get(f'{at}/o.json?orderBy="$key"&format=export').json() == {"a": 1, "b": 2}
    assert http.get(f'{at}/l.json?orderBy="$key"').json() is None


def test_a_push_below_a_32_key_path_is_refused(http, emulator):
    deep = "/".join(["d"] * 32)
    response = http.post(f"{emulator.url}/{deep}.json", data=b"1")
    assert response.status_code == 400, response.text
    assert http.get(f"{emulator.url}/d.json").json() is None


def test_a_rules_key_with_a_lone_surrogate_is_a_rules_error():
    with pytest.raises(RulesError) as error:
        RuleSet.parse('{"rules": {"\\ud800": {".read": true}}}')
    assert (error.value.line, error.value.column) == (1, 12)


def test_rules_errors_quoting_a_lone_surrogate_are_400_not_500(http, emulator):
    url = f"{emulator.url}/.settings/rules.json?ns=findings-rules"
    for source in ('{"rules": {"\\ud800": {".read": true}}}', '{"rules": {".read": "\\ud800 +"}}'):
        response = http.put(url, data=source.encode(), headers=ADMIN)
        assert response.status_code == 400 and "\\ud800" in response.text, response.text
    ok = '{"rules": {".read": "auth.uid == \\"\\ud800\\"", ".write": true}}'
    assert http.put(url, data=ok.encode(), headers=ADMIN).status_code == 200
    response = http.get(url + "&format=strict", headers=ADMIN)
    assert response.status_code == 200 and response.json()["rules"][".read"] == 'auth.uid == "\ud800"'


def test_a_leaf_with_a_priority_is_ordered_by_its_value(http, at):  # emulator/query.py
    http.put(f"{at}.json", data=b'{"a": {".value": 5, ".priority": 1}, "b": 5, '
                                b'"c": {"x": {".value": 7, ".priority": 2}}, "d": {"x": 7}}').raise_for_status()
    assert http.get(f'{at}.json?orderBy="$value"&equalTo=5').json() == {"a": 5, "b": 5}
    assert http.get(f'{at}.json?orderBy="x"&equalTo=7').json() == {"c": {"x": 7}, "d": {"x": 7}}


@pytest.mark.parametrize("escape", ["%0A", "%0a", "%0D", "%0D%0A", "%00", "%09", "%1F", "%7F"])
def test_a_control_character_in_a_path_is_a_json_400(http, at, escape):  # emulator/server.py
    for method, url in (("PUT", f"{at}/a{escape}b.json"), ("GET", f"{at}/a{escape}b.json"),
                        ("PUT", f"{at}{escape}.json")):
        response = http.request(method, url, data=b"1")
        assert response.status_code == 400, (method, url, response.text)
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"
        assert response.json()["error"] == "Invalid path: Invalid token in path"
    assert http.get(f"{at}.json").json() is None


def test_a_regex_class_with_a_bracket_loads_without_a_warning():  # emulator/rules/regex.py
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        RuleSet.parse('{"rules": {".read": "auth.uid.matches(/^[[]$/)"}}')
        rules = RuleSet.parse('{"rules": {".read": "auth.uid.matches(/^[a&&b]+$/) || '
                              'auth.uid.matches(/^[!--~~|||]$/)"}}')
    for uid, allowed in (("a&b", True), ("&&", True), ("-", True), ("#", True), ("~", True), ("|", True),
                         ("c", False), (".", False)):
        assert rules.can_read(("x",), Context(auth={"uid": uid}, root=None, now=0)) is allowed, uid


def test_a_catastrophic_regex_in_a_rule_does_not_stall_the_emulator(emulator):  # emulator/rules/regex.py
    ns = f"findings-regex-{uuid.uuid4().hex[:8]}"
    rules = {"rules": {".read": True, "evil": {".write": True,
                                               ".validate": "newData.isString() && newData.val().matches(/^(a+)+$/)"}}}
    url = f"{emulator.url}/.settings/rules.json?ns={ns}"
    requests.put(url, json=rules, headers=ADMIN, timeout=10).raise_for_status()
    evil = "a" * 40 + "!"  # a backtracking engine tries about 2**40 ways to split the a's before giving up

    def timed(method, path, **kwargs):
        started = time.monotonic()
        with requests.Session() as session:  # each its own client and connection
            response = session.request(method, f"{emulator.url}/{path}.json?ns={ns}", timeout=30, **kwargs)
        return response, time.monotonic() - started

    with ThreadPoolExecutor(max_workers=2) as pool:
        write = pool.submit(timed, "PUT", "evil", json=evil)
        read = pool.submit(timed, "GET", "elsewhere")
        (written, write_s), (got, read_s) = write.result(), read.result()
    assert written.status_code == 401 and written.json()["error"] == "Permission denied", written.text
    assert got.status_code == 200 and got.json() is None
    assert write_s < 5 and read_s < 5, (write_s, read_s)
    response, _ = timed("PUT", "evil", json="a" * 40)  # the rule evaluates: a matching string is written
    assert response.status_code == 200 and response.json() == "a" * 40
