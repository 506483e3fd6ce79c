"""A minimal Firebase Auth emulator: the Identity Toolkit and Secure Token REST APIs, users in memory.

Served on the database port under the URL prefixes of Firebase's Auth emulator, and on a port of its own
(`Identity.app()`, Firebase's emulators.auth.port, 9099 by default) when the settings name one, so its
clients work unchanged: the web pages (`authEmulatorUrl` in init.json), the Firebase JS SDK
(`connectAuthEmulator`), firebase-admin (FIREBASE_AUTH_EMULATOR_HOST), plain REST. End users sign up
(anonymously or with a password), sign in with a password or a custom token (unsigned ones too, as
firebase-admin makes them for an emulator), look themselves up, refresh and delete themselves; the admin
creates, looks up, updates (custom claims) and deletes accounts. ID tokens are unsigned JWTs (`alg: none`)
with the claims Firebase's Auth emulator gives them, which `emulator.auth` accepts in `?auth=`; errors
have Google's shape. End-user endpoints need `?key=` (any value) or the admin token; admin endpoints
(`.../projects/{p}/accounts...`) need `Authorization: Bearer owner`. `DEFAULT_ACCOUNTS` exist from the
start. Imports aiohttp only.
"""

import base64
import json
import logging
import re
import secrets
import string
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from aiohttp import web

from emulator.auth import ADMIN_TOKEN
from emulator.rest import CORS_HEADERS

IDENTITY = "/identitytoolkit.googleapis.com/v1"
SECURE_TOKEN = "/securetoken.googleapis.com/v1"
EMULATOR = "/emulator/v1"
TOKEN_LIFETIME_S = 3600
PASSWORD_MIN_LENGTH = 6
CLAIMS_MAX_LENGTH = 1000
LOCAL_ID_LENGTH = 28
PROJECT_NUMBER = "12345"  # what Firebase's Auth emulator reports as `project_id` when it grants a token
CUSTOM_TOKEN_AUDIENCE = "https://identitytoolkit.googleapis.com/google.identity.identitytoolkit.v1.IdentityToolkit"
REDACTED_HASH = "UkVEQUNURUQ="  # "REDACTED" in base64: Firebase's stand-in for a password hash it does not reveal
DEFAULT_ACCOUNTS = (
    {"localId": "local-agent", "email": "agent@example.com", "password": "agent-password",
     "displayName": "Local agent", "customClaims": {"agent": True}},
)
_RESERVED_CLAIMS = ("iss", "aud", "sub", "iat", "exp", "nbf", "jti", "nonce", "azp", "acr", "amr", "cnf",
                    "auth_time", "firebase", "at_hash", "c_hash")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_ID_ALPHABET = string.ascii_letters + string.digits
_NO_ADMIN = "Request is missing required authentication credential: the admin token (Authorization: Bearer owner)."
_IMPLEMENTED = ("signUp, signInWithPassword, signInWithCustomToken, lookup, delete, token and the admin accounts "
                "endpoints (create, lookup, update, delete)")
_log = logging.getLogger(__name__)


class AuthError(Exception):
    """An Identity Toolkit error: Google's message (`CODE` or `CODE : detail`) and HTTP code."""

    def __init__(self, message: str, code: int = 400, status: str | None = None, reason: str = "invalid"):
        super().__init__(message)
        self.code, self.status, self.reason = code, status, reason

    def response(self) -> web.Response:
        error = {"code": self.code, "message": str(self),
                 "errors": [{"message": str(self), "reason": self.reason, "domain": "global"}]}
        if self.status:
            error["status"] = self.status
        return web.json_response({"error": error}, status=self.code, headers=CORS_HEADERS)


@dataclass
class User:
    """One account. Passwords are kept in clear, as in Firebase's emulator: never put real ones here."""

    local_id: str
    email: str | None = None
    password: str | None = None
    display_name: str | None = None
    photo_url: str | None = None
    email_verified: bool = False
    disabled: bool = False
    custom_claims: dict = field(default_factory=dict)
    created_at: int = field(default_factory=lambda: int(time.time() * 1000))
    last_login_at: int = field(default_factory=lambda: int(time.time() * 1000))
    last_refresh_at: float | None = None  # seconds since the epoch of the last token issued

    def record(self) -> dict:
        """The account as `accounts:lookup` returns it."""
        info = {"localId": self.local_id, "emailVerified": self.email_verified, "disabled": self.disabled,
                "createdAt": str(self.created_at), "lastLoginAt": str(self.last_login_at), "providerUserInfo": []}
        if self.email is not None:
            info["email"] = self.email
            info["providerUserInfo"] = [{"providerId": "password", "email": self.email, "federatedId": self.email,
                                         "rawId": self.email}]
        if self.password is not None:
            info["passwordHash"] = REDACTED_HASH  # the JS SDK reads "has a password" from its presence
        if self.display_name is not None:
            info["displayName"] = self.display_name
        if self.photo_url is not None:
            info["photoUrl"] = self.photo_url
        if self.last_refresh_at is not None:
            refreshed = datetime.fromtimestamp(self.last_refresh_at, timezone.utc)
            info["lastRefreshAt"] = refreshed.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        if self.custom_claims:
            info["customAttributes"] = json.dumps(self.custom_claims)
        return info


class Identity:
    """The Auth emulator of one project.

    Args:
      project: the project id, named by every token's `iss` and `aud`.
      accounts: accounts to create at start, as `POST /emulator/v1/projects/{p}/accounts` bodies.
    """

    def __init__(self, project: str, accounts=DEFAULT_ACCOUNTS):
        self.project = project
        self.users: dict[str, User] = {}
        for spec in accounts:
            self._create(spec)

    def routes(self) -> list:
        """The aiohttp routes; register them before any catch-all route."""
        projects = "/projects/{project}/accounts"
        return [
            web.post(f"{IDENTITY}/accounts:signUp", self._endpoint(self._sign_up)),
            web.post(f"{IDENTITY}/accounts:signInWithPassword", self._endpoint(self._sign_in_with_password)),
            web.post(f"{IDENTITY}/accounts:signInWithCustomToken", self._endpoint(self._sign_in_with_custom_token)),
            web.post(f"{IDENTITY}/accounts:lookup", self._endpoint(self._lookup)),
            web.post(f"{IDENTITY}/accounts:delete", self._endpoint(self._delete_account)),
            web.post(f"{SECURE_TOKEN}/token", self._endpoint(self._grant_token)),
            web.post(f"{IDENTITY}{projects}", self._endpoint(self._create_account, admin=True)),
            web.post(f"{IDENTITY}{projects}:update", self._endpoint(self._update_account, admin=True)),
            web.post(f"{IDENTITY}{projects}:lookup", self._endpoint(self._lookup, admin=True)),
            web.post(f"{IDENTITY}{projects}:delete", self._endpoint(self._delete_account, admin=True)),
            web.post(f"{EMULATOR}{projects}", self._endpoint(self._create_account, admin=True)),
            web.delete(f"{EMULATOR}{projects}", self._endpoint(self._delete_all, admin=True)),
            web.route("OPTIONS", f"{EMULATOR}{projects}", _other),
            # Any other path under these prefixes is the Auth emulator's (dots never occur in database paths).
            web.route("*", IDENTITY + "/{tail:.*}", _other),
            web.route("*", SECURE_TOKEN + "/{tail:.*}", _other),
        ]

    def app(self) -> web.Application:
        """The Auth emulator alone, for a port of its own (as Firebase's emulator suite serves it)."""
        app = web.Application(client_max_size=1024**2)
        app.router.add_get("/", _ready)
        app.router.add_routes(self.routes())
        app.router.add_route("*", "/{tail:.*}", _other)
        return app

    def _endpoint(self, handler, admin: bool = False):
        async def endpoint(request: web.Request) -> web.Response:
            try:
                privileged = _is_admin(request)
                if admin and not privileged:
                    raise AuthError(_NO_ADMIN, 401, "UNAUTHENTICATED", "required")
                if not privileged and not request.query.get("key"):
                    raise AuthError("The request is missing a valid API key.", 403, "PERMISSION_DENIED", "forbidden")
                project = request.match_info.get("project", self.project)
                _require(project == self.project, f'INVALID_PROJECT_ID : "{project}". This is "{self.project}".')
                body = handler(await _body(request), privileged)
                return web.json_response(body, headers=CORS_HEADERS)
            except AuthError as exc:
                return exc.response()
        return endpoint

    # ---- handlers: (body, privileged) -> response body ------------------------------------------

    def _sign_up(self, body: dict, _privileged: bool) -> dict:
        _require(not body.get("localId"), "UNEXPECTED_PARAMETER : User ID")
        if body.get("idToken"):
            raise AuthError("Linking accounts (signUp with an idToken) is not implemented in this emulator.",
                            501, "NOT_IMPLEMENTED", "unimplemented")
        provider = "password" if body.get("email") or body.get("password") else "anonymous"
        if provider == "password":
            _require(body.get("email"), "MISSING_EMAIL")
            _require(body.get("password"), "MISSING_PASSWORD")
        user = self._create({k: body.get(k) for k in ("email", "password", "displayName")})
        return {"kind": "identitytoolkit#SignupNewUserResponse", "localId": user.local_id,
                **({"email": user.email} if user.email else {}), **self._tokens(user, provider)}

    def _sign_in_with_password(self, body: dict, _privileged: bool) -> dict:
        _require(body.get("email") is not None, "MISSING_EMAIL")
        email = str(body["email"]).strip().lower()
        _require(_EMAIL.match(email), "INVALID_EMAIL")
        _require(body.get("password"), "MISSING_PASSWORD")
        user = self._by_email(email)
        _require(user, "EMAIL_NOT_FOUND")
        _require(not user.disabled, "USER_DISABLED")
        _require(user.password is not None and user.password == str(body["password"]), "INVALID_PASSWORD")
        user.last_login_at = int(time.time() * 1000)
        return {"kind": "identitytoolkit#VerifyPasswordResponse", "registered": True, "localId": user.local_id,
                "email": email, **self._tokens(user, "password")}

    def _sign_in_with_custom_token(self, body: dict, _privileged: bool) -> dict:
        """Exchange a custom token (firebase-admin's createCustomToken) for an ID token; unknown uids are created."""
        _require(body.get("token"), "MISSING_CUSTOM_TOKEN")
        payload = _custom_token_payload(str(body["token"]))
        uid = payload.get("uid", payload.get("user_id"))
        if isinstance(uid, int) and not isinstance(uid, bool):
            uid = str(uid)
        _require(isinstance(uid, str) and uid, "MISSING_IDENTIFIER")
        extra = payload.get("claims", {})
        _check_claims(extra)
        user = self.users.get(uid)
        is_new = user is None
        if is_new:
            user = self._create({"localId": uid})
        _require(not user.disabled, "USER_DISABLED")
        user.last_login_at = int(time.time() * 1000)
        return {"kind": "identitytoolkit#VerifyCustomTokenResponse", "isNewUser": is_new,
                **self._tokens(user, "custom", extra)}

    def _delete_account(self, body: dict, privileged: bool) -> dict:
        """The admin deletes by `localId`; an end user deletes the account its `idToken` names."""
        if privileged and not body.get("idToken"):
            _require(body.get("localId"), "MISSING_LOCAL_ID")
            user = self.users.get(str(body["localId"]))
            _require(user, "USER_NOT_FOUND")
        else:
            _require(body.get("idToken"), "MISSING_ID_TOKEN")
            user = self._user_of(str(body["idToken"]))
        del self.users[user.local_id]
        return {"kind": "identitytoolkit#DeleteAccountResponse"}

    def _grant_token(self, body: dict, _privileged: bool) -> dict:
        _require(body.get("grantType"), "MISSING_GRANT_TYPE")
        _require(body["grantType"] == "refresh_token", "INVALID_GRANT_TYPE")
        _require(body.get("refreshToken"), "MISSING_REFRESH_TOKEN")
        try:  # a form body may turn the token's '+' into ' '
            record = json.loads(base64.b64decode(str(body["refreshToken"]).replace(" ", "+"), validate=True))
        except ValueError:
            raise AuthError("INVALID_REFRESH_TOKEN") from None
        _require(isinstance(record, dict) and record.get("_AuthEmulatorRefreshToken"), "INVALID_REFRESH_TOKEN")
        _require(record.get("projectId") == self.project, "INVALID_REFRESH_TOKEN")
        user = self.users.get(record.get("localId"))
        _require(user, "INVALID_REFRESH_TOKEN")
        _require(not user.disabled, "USER_DISABLED")
        extra = record.get("extraClaims") if isinstance(record.get("extraClaims"), dict) else {}
        tokens = self._tokens(user, str(record.get("provider")), extra)
        return {"id_token": tokens["idToken"], "access_token": tokens["idToken"], "expires_in": tokens["expiresIn"],
                "refresh_token": tokens["refreshToken"], "token_type": "Bearer", "user_id": user.local_id,
                "project_id": PROJECT_NUMBER}

    def _lookup(self, body: dict, privileged: bool) -> dict:
        if privileged and not body.get("idToken"):
            found = [self.users.get(str(i)) for i in body.get("localId") or []]
            found += [self._by_email(str(e).lower()) for e in body.get("email") or []]
            users = list({u.local_id: u for u in found if u is not None}.values())
        else:
            _require(body.get("idToken"), "MISSING_ID_TOKEN")
            users = [self._user_of(str(body["idToken"]))]
        # Without matches Firebase leaves `users` out rather than sending an empty list.
        found = {"users": [u.record() for u in users]} if users else {}
        return {"kind": "identitytoolkit#GetAccountInfoResponse", **found}

    def _create_account(self, body: dict, _privileged: bool) -> dict:
        user = self._create(body)
        return {"kind": "identitytoolkit#SignupNewUserResponse", "localId": user.local_id,
                **({"email": user.email} if user.email else {})}

    def _update_account(self, body: dict, _privileged: bool) -> dict:
        _require(body.get("localId"), "MISSING_LOCAL_ID")
        user = self.users.get(str(body["localId"]))
        _require(user, "USER_NOT_FOUND")
        self._apply(user, body)
        return {"kind": "identitytoolkit#SetAccountInfoResponse", **user.record()}

    def _delete_all(self, _body: dict, _privileged: bool) -> dict:
        self.users.clear()
        return {}

    # ---- accounts and tokens ------------------------------------------------------------------

    def _create(self, spec: dict) -> User:
        local_id = spec.get("localId") or "".join(secrets.choice(_ID_ALPHABET) for _ in range(LOCAL_ID_LENGTH))
        _require(isinstance(local_id, str) and local_id not in self.users, "DUPLICATE_LOCAL_ID")
        user = User(local_id)
        self._apply(user, spec)
        self.users[local_id] = user
        return user

    def _apply(self, user: User, spec: dict) -> None:
        """Check every field of `spec` first, then change `user`: a refused update changes nothing."""
        changes = {}
        if spec.get("email") is not None:
            email = str(spec["email"]).strip().lower()
            _require(_EMAIL.match(email), "INVALID_EMAIL")
            _require(self._by_email(email) in (None, user), "EMAIL_EXISTS")
            changes["email"] = email
        if spec.get("password") is not None:
            _require(len(str(spec["password"])) >= PASSWORD_MIN_LENGTH,
                     f"WEAK_PASSWORD : Password should be at least {PASSWORD_MIN_LENGTH} characters")
            changes["password"] = str(spec["password"])
        claims = spec.get("customClaims")
        if spec.get("customAttributes") is not None:
            _require(len(str(spec["customAttributes"])) <= CLAIMS_MAX_LENGTH, "CLAIMS_TOO_LARGE")
            try:
                claims = json.loads(spec["customAttributes"])
            except (TypeError, ValueError):
                raise AuthError("INVALID_CLAIMS") from None
        if claims is not None:
            _check_claims(claims)
            changes["custom_claims"] = dict(claims)
        for key, attr in (("displayName", "display_name"), ("photoUrl", "photo_url"),
                          ("emailVerified", "email_verified"), ("disabled", "disabled"), ("disableUser", "disabled")):
            if spec.get(key) is not None:
                changes[attr] = str(spec[key]) if attr in ("display_name", "photo_url") else bool(spec[key])
        for attr, value in changes.items():
            setattr(user, attr, value)

    def _by_email(self, email: str) -> User | None:
        return next((u for u in self.users.values() if u.email == email), None)

    def _user_of(self, id_token: str) -> User:
        """The account an ID token names (its signature and expiry are not checked, as in Firebase's emulator)."""
        parts = id_token.split(".")
        try:
            claims = _b64decode_json(parts[1])
        except (IndexError, ValueError):
            raise AuthError("INVALID_ID_TOKEN") from None
        _require(isinstance(claims, dict) and claims.get("user_id"), "INVALID_ID_TOKEN")
        user = self.users.get(claims["user_id"])
        _require(user, "USER_NOT_FOUND")
        _require(not user.disabled, "USER_DISABLED")
        return user

    def _tokens(self, user: User, provider: str, extra_claims: dict | None = None) -> dict:
        """An ID token and a refresh token, shaped as Firebase's Auth emulator makes them.

        Args:
          user: the account the tokens are for.
          provider: `firebase.sign_in_provider` (password, anonymous, custom).
          extra_claims: a custom token's `claims`: in this token and every one its refresh token grants.
        """
        user.last_refresh_at = time.time()
        now = int(user.last_refresh_at)
        claims = {"name": user.display_name} if user.display_name else {}
        if user.photo_url:
            claims["picture"] = user.photo_url
        claims.update(user.custom_claims)
        claims.update(extra_claims or {})  # then the reserved claims, which neither can override
        if user.email is not None:
            claims.update(email=user.email, email_verified=user.email_verified)
        if provider == "anonymous":
            claims["provider_id"] = "anonymous"
        identities = {"email": [user.email]} if user.email else {}
        claims.update(auth_time=user.last_login_at // 1000, user_id=user.local_id,
                      firebase={"identities": identities, "sign_in_provider": provider},
                      iat=now, exp=now + TOKEN_LIFETIME_S, aud=self.project,
                      iss=f"https://securetoken.google.com/{self.project}", sub=user.local_id)
        id_token = f"{_b64url({'alg': 'none', 'typ': 'JWT'})}.{_b64url(claims)}."
        refresh = {"_AuthEmulatorRefreshToken": "DO NOT MODIFY", "localId": user.local_id, "provider": provider,
                   "extraClaims": extra_claims or {}, "projectId": self.project}
        return {"idToken": id_token, "refreshToken": base64.b64encode(json.dumps(refresh).encode()).decode(),
                "expiresIn": str(TOKEN_LIFETIME_S)}


def _custom_token_payload(token: str) -> dict:
    """A custom token's payload: a JWT, signed or not (never verified), or plain JSON as Firebase's emulator allows."""
    if token.startswith("{"):
        try:
            payload = json.loads(token)
        except ValueError:
            raise AuthError("INVALID_CUSTOM_TOKEN : ((Auth Emulator only accepts strict JSON or JWTs as fake custom "
                            "tokens.))") from None
        _require(isinstance(payload, dict), "INVALID_CUSTOM_TOKEN : ((A JSON custom token must be an object.))")
        return payload
    try:
        header, payload = (_b64decode_json(part) for part in token.split(".")[:2])
    except ValueError:
        raise AuthError("INVALID_CUSTOM_TOKEN : Invalid assertion format") from None
    _require(isinstance(header, dict) and isinstance(payload, dict), "INVALID_CUSTOM_TOKEN : Invalid assertion format")
    if header.get("alg") != "none":  # a real project's token: there is no key here to check it with
        _log.warning("Received a signed custom token. This emulator does not verify signatures and IS NOT SECURE.")
    _require(payload.get("aud") == CUSTOM_TOKEN_AUDIENCE,
             f"INVALID_CUSTOM_TOKEN : ((Invalid aud (audience): {payload.get('aud')} Note: Firebase ID Tokens / "
             "third-party tokens cannot be used with signInWithCustomToken.))")
    return payload


def _check_claims(claims) -> None:
    """Custom claims are an object without the names the token itself uses."""
    _require(isinstance(claims, dict), "INVALID_CLAIMS")
    for name in _RESERVED_CLAIMS:
        _require(name not in claims, f"FORBIDDEN_CLAIM : {name}")


def _require(condition, message: str) -> None:
    if not condition:
        raise AuthError(message)


def _is_admin(request: web.Request) -> bool:
    header = request.headers.get("Authorization", "")
    return header.lower().startswith("bearer ") and header[7:].strip().lower() == ADMIN_TOKEN


async def _body(request: web.Request) -> dict:
    """The JSON or form body (Firebase's SDKs post /token as a form), with snake_case keys made camelCase."""
    if request.content_type == "application/x-www-form-urlencoded":
        body = dict(await request.post())
    else:
        raw = await request.text()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            raise AuthError(f"Invalid JSON payload received. {exc}.", 400, "INVALID_ARGUMENT", "parseError") from None
    if not isinstance(body, dict):
        raise AuthError(f"Invalid JSON payload received. Expected an object, found {type(body).__name__}.",
                        400, "INVALID_ARGUMENT", "parseError")
    return {re.sub(r"_([a-z])", lambda m: m.group(1).upper(), key): value for key, value in body.items()}


async def _other(request: web.Request) -> web.Response:
    """CORS preflight for every Auth path; 404 in Google's format for unknown ones."""
    if request.method != "OPTIONS":
        return AuthError(f'Not found: "{request.path}". This emulator implements {_IMPLEMENTED}.',
                         404, "NOT_FOUND", "notFound").response()
    return web.Response(status=204, headers={
        **CORS_HEADERS, "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
        "Access-Control-Allow-Headers": request.headers.get("Access-Control-Request-Headers", "Content-Type"),
        "Access-Control-Max-Age": "3600"})


async def _ready(_request: web.Request) -> web.Response:
    """What Firebase's Auth emulator answers at the root of its port."""
    ready = {"ready": True, "docs": "https://firebase.google.com/docs/emulator-suite"}
    return web.json_response({"authEmulator": ready}, headers=CORS_HEADERS)


def _b64decode_json(part: str):
    """A base64url JWT segment's JSON (ValueError if it is not)."""
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _b64url(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).decode().rstrip("=")
