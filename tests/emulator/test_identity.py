"""The Auth emulator (emulator/identity.py) over HTTP: Firebase's REST shapes and errors, tokens the database honours."""

import base64
import json
import uuid

import firebase_admin
import pytest
import requests
from firebase_admin import auth

from emulator.identity import DEFAULT_ACCOUNTS
from tests.support.procs import ROOT, start_emulator

PROJECT = "demo-tickets"
KEY = {"key": "demo-api-key"}
ADMIN = {"Authorization": "Bearer owner"}
AGENT = DEFAULT_ACCOUNTS[0]
IDENTITY = "/identitytoolkit.googleapis.com/v1"
TOKEN = "/securetoken.googleapis.com/v1/token"


@pytest.fixture(scope="module")
def emu():
    """An emulator with the project's firebase.json: its rules, and the hosting that serves init.json."""
    proc = start_emulator(config=ROOT / "firebase.json")
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def admin_app(emu):
    """firebase-admin's auth pointed at the emulator as Firebase documents it (FIREBASE_AUTH_EMULATOR_HOST)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("FIREBASE_AUTH_EMULATOR_HOST", f"127.0.0.1:{emu.port}")
        app = firebase_admin.initialize_app(options={"projectId": PROJECT}, name=f"identity-{uuid.uuid4().hex[:8]}")
        yield app
        firebase_admin.delete_app(app)


def call(emu, endpoint: str, body=None, **kwargs) -> requests.Response:
    """POST to an Identity Toolkit endpoint, e.g. "accounts:signUp", with an API key."""
    kwargs.setdefault("params", KEY)
    return requests.post(f"{emu.url}{IDENTITY}/{endpoint}", json=body, timeout=10, **kwargs)


def decode(part: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def claims(token: str) -> dict:
    return decode(token.split(".")[1])


def google_error(message: str, code: int = 400) -> dict:
    return {"error": {"code": code, "message": message,
                      "errors": [{"message": message, "reason": "invalid", "domain": "global"}]}}


def sign_in(emu, email: str, password: str) -> dict:
    response = call(emu, "accounts:signInWithPassword", {"email": email, "password": password, "returnSecureToken": True})
    response.raise_for_status()
    return response.json()


def ticket(uid: str) -> dict:
    return {"subject": "Cannot log in", "description": "Every login fails.", "contact": {"name": "Ann", "email": "ann@example.com"},
            "category": "authentication", "type": "issue", "impact": 3, "experience": "experienced", "seniority": 2,
            "created_at": {".sv": "timestamp"}, "status": "new", "uid": uid}


def test_anonymous_sign_up_returns_a_token_the_database_accepts_as_that_uid(emu):
    response = call(emu, "accounts:signUp", {"returnSecureToken": True})
    assert response.status_code == 200
    body = response.json()
    assert body["kind"] == "identitytoolkit#SignupNewUserResponse" and body["expiresIn"] == "3600"
    assert body["refreshToken"] and "email" not in body
    header, _, signature = body["idToken"].split(".")
    assert decode(header) == {"alg": "none", "typ": "JWT"} and signature == ""
    token = claims(body["idToken"])
    assert token["user_id"] == token["sub"] == body["localId"] and len(body["localId"]) == 28
    assert token["provider_id"] == "anonymous"
    assert token["firebase"] == {"identities": {}, "sign_in_provider": "anonymous"}
    assert token["iss"] == f"https://securetoken.google.com/{PROJECT}" and token["aud"] == PROJECT
    assert token["exp"] - token["iat"] == 3600 and token["auth_time"] <= token["iat"]
    assert "email" not in token and "email_verified" not in token

    # The database's rules see the token's uid: a ticket with it is created and readable by its creator.
    created = requests.post(f"{emu.url}/tickets.json", params={"auth": body["idToken"]}, json=ticket(body["localId"]),
                            timeout=10)
    assert created.status_code == 200, created.text
    stored = requests.get(f"{emu.url}/tickets/{created.json()['name']}.json", params={"auth": body["idToken"]}, timeout=10)
    assert stored.json()["uid"] == body["localId"]
    spoofed = requests.post(f"{emu.url}/tickets.json", params={"auth": body["idToken"]}, json=ticket("someone-else"),
                            timeout=10)
    assert spoofed.status_code == 401


def test_an_empty_body_signs_up_a_new_anonymous_user_each_time(emu):
    first = requests.post(f"{emu.url}{IDENTITY}/accounts:signUp", params=KEY, timeout=10)
    second = requests.post(f"{emu.url}{IDENTITY}/accounts:signUp", params=KEY, data="", timeout=10)
    assert first.status_code == second.status_code == 200
    assert first.json()["localId"] != second.json()["localId"]


def test_password_users_sign_up_then_sign_in_with_an_e_mail_in_any_case(emu):
    email = f"Pat-{uuid.uuid4().hex[:8]}@Example.com"
    up = call(emu, "accounts:signUp", {"email": email, "password": "secret-1", "returnSecureToken": True}).json()
    assert up["email"] == email.lower()
    token = claims(up["idToken"])
    assert token["email"] == email.lower() and token["email_verified"] is False and "provider_id" not in token
    assert token["firebase"] == {"identities": {"email": [email.lower()]}, "sign_in_provider": "password"}

    signed = sign_in(emu, email.upper(), "secret-1")
    assert signed["kind"] == "identitytoolkit#VerifyPasswordResponse" and signed["registered"] is True
    assert (signed["localId"], signed["email"], signed["expiresIn"]) == (up["localId"], email.lower(), "3600")
    assert claims(signed["idToken"])["user_id"] == up["localId"]


@pytest.mark.parametrize("endpoint,body,message", [
    ("accounts:signInWithPassword", {"email": AGENT["email"], "password": "wrong-password"}, "INVALID_PASSWORD"),
    ("accounts:signInWithPassword", {"email": "nobody@example.com", "password": "whatever"}, "EMAIL_NOT_FOUND"),
    ("accounts:signInWithPassword", {"email": "not-an-address", "password": "whatever"}, "INVALID_EMAIL"),
    ("accounts:signInWithPassword", {"email": AGENT["email"]}, "MISSING_PASSWORD"),
    ("accounts:signInWithPassword", {"password": "whatever"}, "MISSING_EMAIL"),
    ("accounts:signUp", {"email": AGENT["email"], "password": "another-password"}, "EMAIL_EXISTS"),
    ("accounts:signUp", {"email": "short@example.com", "password": "12345"},
     "WEAK_PASSWORD : Password should be at least 6 characters"),
    ("accounts:signUp", {"email": "half@example.com"}, "MISSING_PASSWORD"),
    ("accounts:signUp", {"password": "half-a-pair"}, "MISSING_EMAIL"),
    ("accounts:signUp", {"email": "no-at-sign", "password": "abcdef"}, "INVALID_EMAIL"),
    ("accounts:signUp", {"localId": "chosen"}, "UNEXPECTED_PARAMETER : User ID"),
    ("accounts:lookup", {}, "MISSING_ID_TOKEN"),
    ("accounts:lookup", {"idToken": "not-a-jwt"}, "INVALID_ID_TOKEN"),
])
def test_refusals_carry_firebase_error_codes_in_googles_format(emu, endpoint, body, message):
    response = call(emu, endpoint, body)
    assert response.status_code == 400
    assert response.json() == google_error(message)


def test_refresh_tokens_grant_fresh_id_tokens_as_a_form_or_json(emu):
    signed = sign_in(emu, AGENT["email"], AGENT["password"])
    form = requests.post(f"{emu.url}{TOKEN}", params=KEY, timeout=10,
                         data={"grant_type": "refresh_token", "refresh_token": signed["refreshToken"]})
    assert form.status_code == 200, form.text
    body = form.json()
    assert set(body) == {"id_token", "access_token", "expires_in", "refresh_token", "token_type", "user_id", "project_id"}
    assert body["access_token"] == body["id_token"] and body["token_type"] == "Bearer" and body["expires_in"] == "3600"
    assert body["user_id"] == signed["localId"] == AGENT["localId"]
    token = claims(body["id_token"])
    assert token["agent"] is True and token["firebase"]["sign_in_provider"] == "password"

    as_json = requests.post(f"{emu.url}{TOKEN}", params=KEY, json={"grantType": "refresh_token",
                                                                   "refreshToken": body["refresh_token"]}, timeout=10)
    assert as_json.status_code == 200 and as_json.json()["user_id"] == AGENT["localId"]

    elsewhere = base64.b64encode(json.dumps({"_AuthEmulatorRefreshToken": "DO NOT MODIFY", "localId": AGENT["localId"],
                                             "provider": "password", "projectId": "another-project"}).encode()).decode()
    for data, message in [({"grant_type": "refresh_token"}, "MISSING_REFRESH_TOKEN"),
                          ({"grant_type": "refresh_token", "refresh_token": "garbage"}, "INVALID_REFRESH_TOKEN"),
                          ({"grant_type": "refresh_token", "refresh_token": elsewhere}, "INVALID_REFRESH_TOKEN"),
                          ({"grant_type": "password", "refresh_token": signed["refreshToken"]}, "INVALID_GRANT_TYPE"),
                          ({"refresh_token": signed["refreshToken"]}, "MISSING_GRANT_TYPE")]:
        refused = requests.post(f"{emu.url}{TOKEN}", params=KEY, data=data, timeout=10)
        assert (refused.status_code, refused.json()) == (400, google_error(message)), data


def test_lookup_returns_the_account_an_id_token_names(emu):
    signed = sign_in(emu, AGENT["email"], AGENT["password"])
    body = call(emu, "accounts:lookup", {"idToken": signed["idToken"]}).json()
    assert body["kind"] == "identitytoolkit#GetAccountInfoResponse"
    [user] = body["users"]
    assert (user["localId"], user["email"], user["displayName"]) == (AGENT["localId"], AGENT["email"], AGENT["displayName"])
    assert json.loads(user["customAttributes"]) == {"agent": True}
    assert user["providerUserInfo"][0]["providerId"] == "password"


def test_custom_claims_set_with_firebase_admin_reach_the_next_token_and_the_rules(emu, admin_app):
    email = f"lee-{uuid.uuid4().hex[:8]}@example.com"
    uid = auth.create_user(email=email, password="lee-password", display_name="Lee", app=admin_app).uid
    first = sign_in(emu, email, "lee-password")
    listing = requests.get(f"{emu.url}/tickets.json", params={"auth": first["idToken"]}, timeout=10)
    assert listing.status_code == 401  # not an agent yet

    auth.set_custom_user_claims(uid, {"agent": True, "team": "billing"}, app=admin_app)
    assert auth.get_user(uid, app=admin_app).custom_claims == {"agent": True, "team": "billing"}
    renewed = requests.post(f"{emu.url}{TOKEN}", params=KEY, timeout=10,
                            data={"grant_type": "refresh_token", "refresh_token": first["refreshToken"]}).json()
    token = claims(renewed["id_token"])
    assert (token["agent"], token["team"], token["name"], token["user_id"]) == (True, "billing", "Lee", uid)
    listing = requests.get(f"{emu.url}/tickets.json", params={"auth": renewed["id_token"]}, timeout=10)
    assert listing.status_code == 200

    # Claims cannot override the token's own fields, and are checked as Firebase checks them.
    update = f"{emu.url}{IDENTITY}/projects/{PROJECT}/accounts:update"
    for attributes, message in [('{"sub": "someone-else"}', "FORBIDDEN_CLAIM : sub"), ("[1, 2]", "INVALID_CLAIMS"),
                                ("{not json", "INVALID_CLAIMS"), (json.dumps({"x": "y" * 1000}), "CLAIMS_TOO_LARGE")]:
        refused = requests.post(update, json={"localId": uid, "customAttributes": attributes}, headers=ADMIN, timeout=10)
        assert (refused.status_code, refused.json()) == (400, google_error(message))
    auth.update_user(uid, disabled=True, app=admin_app)
    refused = call(emu, "accounts:signInWithPassword", {"email": email, "password": "lee-password"})
    assert refused.json() == google_error("USER_DISABLED")


def test_the_admin_endpoint_creates_accounts_with_claims_for_the_admin_only(emu):
    url = f"{emu.url}/emulator/v1/projects/{PROJECT}/accounts"
    body = {"email": f"sam-{uuid.uuid4().hex[:8]}@example.com", "password": "sam-password", "customClaims": {"agent": True}}
    for headers, params in [({}, {}), ({}, KEY), ({"Authorization": "Bearer someone"}, KEY)]:
        refused = requests.post(url, json=body, headers=headers, params=params, timeout=10)
        assert refused.status_code == 401 and refused.json()["error"]["status"] == "UNAUTHENTICATED"
    created = requests.post(url, json=body, headers=ADMIN, timeout=10)
    assert created.status_code == 200 and created.json()["email"] == body["email"]
    assert claims(sign_in(emu, body["email"], "sam-password")["idToken"])["agent"] is True

    again = requests.post(url, json=body, headers=ADMIN, timeout=10)
    assert again.json() == google_error("EMAIL_EXISTS")
    other = requests.post(f"{emu.url}/emulator/v1/projects/other-project/accounts", json=body, headers=ADMIN, timeout=10)
    assert other.status_code == 400 and other.json()["error"]["message"].startswith("INVALID_PROJECT_ID")


def test_the_default_agent_can_list_tickets_and_a_customer_cannot(emu):
    agent = sign_in(emu, AGENT["email"], AGENT["password"])
    customer = call(emu, "accounts:signUp", {"returnSecureToken": True}).json()
    agent_list = requests.get(f"{emu.url}/tickets.json", params={"auth": agent["idToken"]}, timeout=10)
    customer_list = requests.get(f"{emu.url}/tickets.json", params={"auth": customer["idToken"]}, timeout=10)
    assert agent_list.status_code == 200
    assert customer_list.status_code == 401 and customer_list.json() == {"error": "Permission denied"}


def test_end_user_endpoints_need_an_api_key(emu):
    response = call(emu, "accounts:signUp", {}, params={})
    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": 403, "message": "The request is missing a valid API key.", "status": "PERMISSION_DENIED",
        "errors": [{"message": "The request is missing a valid API key.", "reason": "forbidden", "domain": "global"}]}


def test_browsers_on_another_origin_may_call_it(emu):
    preflight = requests.options(f"{emu.url}{IDENTITY}/accounts:signUp", params=KEY, timeout=10, headers={
        "Origin": "http://127.0.0.1:5000", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert preflight.headers["Access-Control-Allow-Headers"] == "content-type"
    for response in (call(emu, "accounts:signUp", {}), call(emu, "accounts:signInWithPassword", {})):
        assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_unknown_endpoints_and_bad_json_are_answered_in_googles_format(emu):
    unknown = call(emu, "accounts:sendOobCode", {"requestType": "PASSWORD_RESET"})
    assert unknown.status_code == 404 and unknown.json()["error"]["status"] == "NOT_FOUND"
    bad = call(emu, "accounts:signUp", None, data="{not json", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert bad.json()["error"]["message"].startswith("Invalid JSON payload received.")


def test_hosting_tells_pages_where_the_auth_emulator_is(emu):
    hosting = emu.port_of("Hosting emulator ready")
    init = requests.get(f"http://127.0.0.1:{hosting}/__/firebase/init.json", timeout=10).json()
    assert init["authEmulatorUrl"] == emu.url and init["apiKey"]


def test_deleting_every_account_forgets_users_and_their_refresh_tokens():
    proc = start_emulator()
    try:
        customer = call(proc, "accounts:signUp", {}).json()
        url = f"{proc.url}/emulator/v1/projects/{PROJECT}/accounts"
        assert requests.delete(url, timeout=10).status_code == 401
        deleted = requests.delete(url, headers=ADMIN, timeout=10)
        assert (deleted.status_code, deleted.json()) == (200, {})
        refused = requests.post(f"{proc.url}{TOKEN}", params=KEY, timeout=10,
                                data={"grant_type": "refresh_token", "refresh_token": customer["refreshToken"]})
        assert refused.json() == google_error("INVALID_REFRESH_TOKEN")
        gone = call(proc, "accounts:signInWithPassword", {"email": AGENT["email"], "password": AGENT["password"]})
        assert gone.json() == google_error("EMAIL_NOT_FOUND")
    finally:
        proc.stop()
