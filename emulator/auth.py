"""Who is asking: the admin (`owner`), an end user with an ID token, or nobody.

The emulator accepts what Firebase's own emulator accepts: the literal admin token `owner`
(header `Authorization: Bearer owner` or `?access_token=owner`), and unsigned end-user ID tokens
(`alg: none`) in `?auth=`. Signed tokens are decoded without verification, as every local
emulator does; this module never grants anything in production.
"""

import base64
import json

from aiohttp import web

from emulator.errors import PermissionDenied
from emulator.store import ADMIN, Auth

ADMIN_TOKEN = "owner"
UNAUTHENTICATED = Auth(kind="unauthenticated")
# Where a request keeps its Auth once worked out. aiohttp 3.14 warns (NotAppKeyWarning) on a plain string key;
# the releases before it have no RequestKey and take the string.
_AUTH_KEY = web.RequestKey("auth_obj", Auth) if hasattr(web, "RequestKey") else "auth_obj"


def identify(request: web.Request) -> Auth:
    """The Auth of a request (cached on it).

    Raises:
      PermissionDenied: an `auth` token that is not a decodable JWT, or an
        `auth_variable_override` from someone other than the admin.
    """
    if _AUTH_KEY in request:
        return request[_AUTH_KEY]
    header = request.headers.get("Authorization", "")
    bearer = header[7:].strip() if header.lower().startswith("bearer ") else None
    token = bearer or request.query.get("access_token")
    override = request.query.get("auth_variable_override")
    if token == ADMIN_TOKEN:
        auth = _override(override) if override is not None else ADMIN
    elif override is not None:
        raise PermissionDenied("Permission denied: auth_variable_override may only be used by the admin.")
    elif request.query.get("auth") or token:
        auth = _end_user(request.query.get("auth") or token)
    else:
        auth = UNAUTHENTICATED
    request[_AUTH_KEY] = auth
    return auth


def require_admin(request: web.Request) -> None:
    """Raise PermissionDenied unless the request carries the admin token."""
    if identify(request) is not ADMIN:
        raise PermissionDenied("Permission denied")


def _override(raw: str) -> Auth:
    try:
        claims = json.loads(raw)
    except ValueError:
        raise PermissionDenied(f'Invalid auth_variable_override: "{raw}". It must be a JSON object or null.') from None
    if claims is None:
        return UNAUTHENTICATED
    if not isinstance(claims, dict):
        raise PermissionDenied(f'Invalid auth_variable_override: "{raw}". It must be a JSON object or null.')
    return Auth(kind="user", uid=claims.get("uid"), token=claims)


def _end_user(token: str) -> Auth:
    claims = decode_unverified(token)
    uid = claims.get("user_id") or claims.get("sub") or claims.get("uid")
    if not isinstance(uid, str) or not uid:
        raise PermissionDenied("Could not parse auth token: it has no user id (sub or user_id claim).")
    return Auth(kind="user", uid=uid, token=claims)


def decode_unverified(token: str) -> dict:
    """The payload of a JWT, without checking its signature.

    Raises:
      PermissionDenied: the token is not three dot-separated base64url parts with a JSON payload.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise PermissionDenied("Could not parse auth token: expected a JWT (three base64url parts separated by dots).")
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except ValueError:
        raise PermissionDenied("Could not parse auth token: its payload is not base64url-encoded JSON.") from None
    if not isinstance(claims, dict):
        raise PermissionDenied("Could not parse auth token: its payload is not a JSON object.")
    return claims
