"""The Auth emulator (emulator/identity.py) over HTTP: Firebase's REST shapes and errors, tokens the database honours.

Most tests call it on the database port; the ones about its own port (`--auth-port`) say so.
"""

import base64
import json
import re
import uuid

import firebase_admin
import pytest
import requests
from firebase_admin import auth

from emulator.identity import CUSTOM_TOKEN_AUDIENCE, DEFAULT_ACCOUNTS, REDACTED_HASH
from tests.support.procs import ROOT, start_emulator

PROJECT = "demo-tickets"
KEY = {"key": "demo-api-key"}
ADMIN = {"Authorization": "Bearer owner"}
AGENT = DEFAULT_ACCOUNTS[0]
IDENTITY = "/identitytoolkit.googleapis.com/v1"
TOKEN = "/securetoken.googleapis.com/v1/token"


@pytest.fixture(scope="module")
def emu():
    """An emulator with the project's firebase.json (its rules, hosting's init.json), and Auth on a free port."""
    proc = start_emulator("--auth-port", "0", config=ROOT / "firebase.json")
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def admin_app(emu):
    """firebase-admin's auth pointed at the Auth port as Firebase documents it (FIREBASE_AUTH_EMULATOR_HOST)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("FIREBASE_AUTH_EMULATOR_HOST", emu.auth_url.removeprefix("http://"))
        app = firebase_admin.initialize_app(options={"projectId": PROJECT}, name=f"identity-{uuid.uuid4().hex[:8]}")
        yield app
        firebase_admin.delete_app(app)


def call(emu, endpoint: str, body=None, base=None, **kwargs) -> requests.Response:
    """POST to an Identity Toolkit endpoint, e.g. "accounts:signUp", with an API key (to the database port unless
    `base` names another)."""
    kwargs.setdefault("params", KEY)
    return requests.post(f"{base or emu.url}{IDENTITY}/{endpoint}", json=body, timeout=10, **kwargs)


def refresh(base: str, refresh_token: str) -> requests.Response:
    """Grant a new ID token as the JS SDK asks for one (a form post to the Secure Token API)."""
    return requests.post(f"{base}{TOKEN}", params=KEY, timeout=10,
                         data={"grant_type": "refresh_token", "refresh_token": refresh_token})


def unsigned_jwt(payload: dict) -> str:
    """A JWT with `alg: none` and an empty signature, as firebase-admin makes custom tokens for an emulator."""
    encode = lambda part: base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")  # noqa: E731
    return f"{encode({'alg': 'none', 'typ': 'JWT'})}.{encode(payload)}."


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


def test_the_auth_port_serves_the_same_accounts_as_the_database_port(emu):
    assert emu.auth_url and emu.auth_url != emu.url
    root = requests.get(f"{emu.auth_url}/", timeout=10)
    assert root.status_code == 200 and root.json()["authEmulator"]["ready"] is True
    email = f"ray-{uuid.uuid4().hex[:8]}@example.com"
    up = call(emu, "accounts:signUp", {"email": email, "password": "ray-password"}, base=emu.auth_url).json()
    signed = sign_in(emu, email, "ray-password")  # on the database port
    assert signed["localId"] == up["localId"]
    renewed = refresh(emu.auth_url, signed["refreshToken"])
    assert renewed.status_code == 200 and renewed.headers["Access-Control-Allow-Origin"] == "*"
    # The database accepts the token the Auth port issued.
    listed = requests.get(f"{emu.url}/tickets.json", params={"auth": renewed.json()["id_token"]}, timeout=10)
    assert listed.status_code == 401 and listed.json() == {"error": "Permission denied"}  # a customer, not an agent


def test_the_auth_port_serves_nothing_but_auth(emu):
    database_path = requests.get(f"{emu.auth_url}/tickets.json", timeout=10)
    assert database_path.status_code == 404 and database_path.json()["error"]["status"] == "NOT_FOUND"
    preflight = requests.options(f"{emu.auth_url}{IDENTITY}/accounts:signInWithCustomToken", timeout=10, headers={
        "Origin": "http://127.0.0.1:5000", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-client-version"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Headers"] == "content-type,x-client-version"


def test_without_an_auth_port_it_answers_on_the_database_port_only():
    proc = start_emulator()  # tests/support/firebase.json names no emulators.auth
    try:
        assert proc.auth_url is None and "Auth emulator ready" not in proc.output
        assert call(proc, "accounts:signUp", {}).status_code == 200
    finally:
        proc.stop()


def test_a_custom_token_from_firebase_admin_signs_in_and_its_claims_survive_a_refresh(emu, admin_app):
    uid = f"custom-{uuid.uuid4().hex[:8]}"
    custom = auth.create_custom_token(uid, {"tier": "gold"}, app=admin_app).decode()
    assert decode(custom.split(".")[0])["alg"] == "none"
    response = call(emu, "accounts:signInWithCustomToken", {"token": custom, "returnSecureToken": True},
                    base=emu.auth_url)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["kind"] == "identitytoolkit#VerifyCustomTokenResponse" and body["isNewUser"] is True
    assert body["expiresIn"] == "3600" and body["refreshToken"]
    token = claims(body["idToken"])
    assert (token["user_id"], token["sub"], token["tier"]) == (uid, uid, "gold")
    assert token["firebase"] == {"identities": {}, "sign_in_provider": "custom"}
    renewed = claims(refresh(emu.auth_url, body["refreshToken"]).json()["id_token"])
    assert renewed["tier"] == "gold" and renewed["firebase"]["sign_in_provider"] == "custom"

    # The account now exists; signing in again finds it, and claims are the token's own, not remembered.
    assert auth.get_user(uid, app=admin_app).uid == uid
    again = call(emu, "accounts:signInWithCustomToken", {"token": json.dumps({"uid": uid})}).json()
    assert again["isNewUser"] is False and "tier" not in claims(again["idToken"])


@pytest.mark.parametrize("token,message", [
    (None, "MISSING_CUSTOM_TOKEN"),
    ("not-a-jwt", "INVALID_CUSTOM_TOKEN : Invalid assertion format"),
    ("{not json", "INVALID_CUSTOM_TOKEN : ((Auth Emulator only accepts strict JSON or JWTs as fake custom tokens.))"),
    (unsigned_jwt({"aud": "demo-tickets", "uid": "u1"}),
     "INVALID_CUSTOM_TOKEN : ((Invalid aud (audience): demo-tickets Note: Firebase ID Tokens / third-party tokens "
     "cannot be used with signInWithCustomToken.))"),
    (unsigned_jwt({"aud": CUSTOM_TOKEN_AUDIENCE}), "MISSING_IDENTIFIER"),
    (unsigned_jwt({"aud": CUSTOM_TOKEN_AUDIENCE, "uid": "u1", "claims": {"firebase": {}}}),
     "FORBIDDEN_CLAIM : firebase"),
    (json.dumps({"uid": "u1", "claims": ["agent"]}), "INVALID_CLAIMS"),
])
def test_refused_custom_tokens_carry_firebase_error_codes(emu, token, message):
    response = call(emu, "accounts:signInWithCustomToken", {} if token is None else {"token": token})
    assert (response.status_code, response.json()) == (400, google_error(message))


def test_a_disabled_user_cannot_sign_in_with_a_custom_token(emu, admin_app):
    uid = auth.create_user(disabled=True, app=admin_app).uid
    refused = call(emu, "accounts:signInWithCustomToken", {"token": json.dumps({"uid": uid})})
    assert refused.json() == google_error("USER_DISABLED")


def test_lookup_describes_profile_password_and_last_refresh_as_firebase_does(emu, admin_app):
    email = f"zoe-{uuid.uuid4().hex[:8]}@example.com"
    auth.create_user(email=email, password="zoe-password", display_name="Zoe", photo_url="https://example.com/z.png",
                     app=admin_app)
    signed = sign_in(emu, email, "zoe-password")
    [user] = call(emu, "accounts:lookup", {"idToken": signed["idToken"]}).json()["users"]
    assert (user["displayName"], user["photoUrl"]) == ("Zoe", "https://example.com/z.png")
    assert user["passwordHash"] == REDACTED_HASH  # the JS SDK reads "has a password" from it
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", user["lastRefreshAt"])
    assert claims(signed["idToken"])["picture"] == "https://example.com/z.png"
    anonymous = call(emu, "accounts:signUp", {}).json()
    [nobody] = call(emu, "accounts:lookup", {"idToken": anonymous["idToken"]}).json()["users"]
    assert "passwordHash" not in nobody and nobody["providerUserInfo"] == []


def test_users_delete_themselves_and_the_admin_deletes_anyone(emu, admin_app):
    customer = call(emu, "accounts:signUp", {}, base=emu.auth_url).json()
    deleted = call(emu, "accounts:delete", {"idToken": customer["idToken"]}, base=emu.auth_url)
    assert (deleted.status_code, deleted.json()) == (200, {"kind": "identitytoolkit#DeleteAccountResponse"})
    assert call(emu, "accounts:lookup", {"idToken": customer["idToken"]}).json() == google_error("USER_NOT_FOUND")
    assert refresh(emu.auth_url, customer["refreshToken"]).json() == google_error("INVALID_REFRESH_TOKEN")

    uid = auth.create_user(app=admin_app).uid
    auth.delete_user(uid, app=admin_app)
    with pytest.raises(auth.UserNotFoundError):
        auth.get_user(uid, app=admin_app)
    with pytest.raises(auth.UserNotFoundError):
        auth.delete_user(uid, app=admin_app)

    admin_delete = f"{emu.auth_url}{IDENTITY}/projects/{PROJECT}/accounts:delete"
    assert requests.post(admin_delete, json={"localId": AGENT["localId"]}, params=KEY, timeout=10).status_code == 401
    missing = requests.post(admin_delete, json={}, headers=ADMIN, timeout=10)
    assert missing.json() == google_error("MISSING_LOCAL_ID")
    # An end user names the account by its ID token only: a bare localId deletes nothing.
    assert call(emu, "accounts:delete", {"localId": AGENT["localId"]}).json() == google_error("MISSING_ID_TOKEN")
    assert sign_in(emu, AGENT["email"], AGENT["password"])["localId"] == AGENT["localId"]
