"""End-user ID tokens for local use: unsigned (alg none), as Firebase's emulators accept them."""

import base64
import json
import time


def user_token(uid: str, project: str = "demo-tickets", **claims) -> str:
    """An unsigned emulator ID token (alg none), as Firebase's tools make them for end users."""
    def b64(obj) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    now = int(time.time())
    payload = {"iss": f"https://securetoken.google.com/{project}", "aud": project, "auth_time": now,
               "iat": now, "exp": now + 3600, "sub": uid, "user_id": uid,
               "firebase": {"sign_in_provider": claims.pop("provider", "anonymous"), "identities": {}}, **claims}
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(payload)}."
