"""The database calls of `runtime.FirebaseTickets` over kept-alive connections, with firebase-admin's own app settings.

firebase-admin sends each call through `Reference`, its `_Client`, google-auth's `AuthorizedSession` and
requests; requests alone is about 0.4 ms of CPU a call (prepare, merge settings, hooks, cookies), two calls
a ticket. This sends the same REST calls over connections kept alive in a pool (`_keptalive`: 0.05-0.065 ms
of CPU a call, against 0.11-0.17 ms through `http.client` and 0.30 ms through urllib3, both used before),
built from the client firebase-admin made for the app: its URL, query parameters (the emulator's `ns`, an
auth override), credential (a service account's token, refreshed as it expires and after a 401, as
google-auth's transports do; the emulator's "owner") and timeout. So the app's configuration, emulator mode
included, is still decided by firebase-admin alone. A lost connection or a 500/503 is tried again as
firebase-admin's client retries.

`from_reference` answers None when firebase-admin's client is not what this expects (a newer SDK, say),
or when the environment configures a proxy, netrc or CA bundle, which requests honours and this would not; callers
then keep firebase-admin's public API.
"""

import json
import time
import urllib.parse

import urllib3
from google.auth.transport import urllib3 as google_urllib3

from enrichment._keptalive import CallFailed, KeptAlive
from enrichment._transport import environment_configures

# As firebase-admin's HTTP client retries (`_http_client.DEFAULT_RETRY_CONFIG`: urllib3's Retry with connect=1,
# read=1, status=4 on 500 and 503, backoff factor 0.5): a call that got no answer is tried once more, one
# answered 500 or 503 up to four more times after 0, 1, 2 and 4 s (a 503's Retry-After, when given, instead).
# Every call here may be repeated: a GET, or a PATCH of the same fields.
_LOST_RETRIES = 1
_STATUS_RETRIES = 4
_RETRY_STATUSES = (500, 503)
_BACKOFF_S = 0.5
_REFRESH_STATUSES = (401,)  # google-auth's transports refresh the credential and call again, at most twice
_MAX_REFRESHES = 2
_POOL_SIZE = 16  # connections kept per host: at least the function's serving threads
_JSON = {"Content-Type": "application/json"}


class DatabaseCallFailed(Exception):
    """A database call answered an error status or could not be made."""


class RtdbHttp:
    """GET and PATCH on one Realtime Database, as firebase-admin's client would send them.

    Args:
      base_url: e.g. https://<ns>.firebaseio.com, or the emulator's http://host:port.
      params: query parameters for every call (firebase-admin's: `ns` for the emulator, an auth override).
      credential: a google.auth credential (adds the Authorization header, refreshes its token).
      timeout_s: seconds per call; None waits for ever (firebase-admin's `httpTimeout` option).
      headers: sent with every call (firebase-admin's User-Agent).
    """

    def __init__(self, base_url: str, params: dict, credential, timeout_s: float | None, headers=None):
        self.base_url = base_url.rstrip("/")
        self._path = urllib.parse.urlsplit(self.base_url).path.rstrip("/")
        self._query = urllib.parse.urlencode(params)
        self._credential = credential
        self._http = KeptAlive(self.base_url, timeout_s, keep=_POOL_SIZE)
        self._refresh_request = None  # a google-auth Request for token refreshes, made on first need
        self._headers = dict(headers or {})

    @classmethod
    def from_reference(cls, reference) -> "RtdbHttp | None":
        """The transport of the client behind a firebase-admin `db.Reference`, or None to keep using the Reference.

        None when that client lacks the attributes read here (firebase-admin's internals changed), or when
        the environment configures a proxy, a netrc file or, for https, a CA bundle (which requests honours).
        """
        client = getattr(reference, "_client", None)
        base_url, params = getattr(client, "base_url", None), getattr(client, "params", None)
        credential, timeout = getattr(client, "credential", None), getattr(client, "timeout", None)
        session = getattr(client, "session", None)
        if (not isinstance(base_url, str) or not base_url.startswith(("http://", "https://"))
                or not isinstance(params, dict) or not hasattr(credential, "before_request")
                or not (timeout is None or isinstance(timeout, (int, float)))):
            return None
        if environment_configures(base_url):
            return None
        headers = {}
        agent = getattr(session, "headers", {}).get("User-Agent") if session is not None else None
        if isinstance(agent, str):
            headers["User-Agent"] = agent
        return cls(base_url, params, credential, timeout, headers)

    def get(self, path: str):
        """The value at `path` (e.g. "tickets/abc"); None if there is none.

        Raises:
          DatabaseCallFailed: an error status, a connection failure, or an answer that is not JSON.
        """
        body = self._call("GET", path, "")
        try:
            return json.loads(body)
        except ValueError as exc:
            raise DatabaseCallFailed(f"GET {path} answered non-JSON: {body[:100]!r}.") from exc

    def update(self, path: str, fields: dict) -> None:
        """Set each of `fields` under `path` in one atomic write (a PATCH); None deletes a field.

        `print=silent`: the database answers 204 without echoing the fields back.

        Raises:
          DatabaseCallFailed: an error status or a connection failure.
        """
        self._call("PATCH", path, "print=silent", json.dumps(fields, separators=(",", ":")).encode())

    def _call(self, method: str, path: str, extra_query: str, body: bytes | None = None) -> bytes:
        query = "&".join(q for q in (self._query, extra_query) if q)
        quoted = "/".join(urllib.parse.quote(key, safe="") for key in path.strip("/").split("/"))
        target = f"{self._path}/{quoted}.json" + (f"?{query}" if query else "")
        url = f"{self.base_url}/{quoted}.json" + (f"?{query}" if query else "")
        lost = errors = refreshes = 0
        while True:
            headers = {**self._headers, **_JSON} if body else dict(self._headers)
            try:
                self._credential.before_request(self._request(), method, url, headers)
                status, answer_headers, data = self._http.request(method, target, body, headers)
            except CallFailed as exc:
                if lost < _LOST_RETRIES:
                    lost += 1
                    continue
                raise DatabaseCallFailed(f"{method} {path} failed: {exc}") from exc
            except Exception as exc:  # google-auth failing to refresh the token
                raise DatabaseCallFailed(f"{method} {path} failed: {type(exc).__name__}: {exc}") from exc
            if status in _REFRESH_STATUSES and refreshes < _MAX_REFRESHES:
                refreshes += 1
                try:
                    self._credential.refresh(self._request())
                except Exception as exc:
                    raise DatabaseCallFailed(f"{method} {path} failed: {type(exc).__name__}: {exc}") from exc
                continue
            if status in _RETRY_STATUSES and errors < _STATUS_RETRIES:
                errors += 1
                time.sleep(_retry_after(status, answer_headers) or (_BACKOFF_S * 2 ** (errors - 1) if errors > 1 else 0))
                continue
            if not 200 <= status < 300:
                raise DatabaseCallFailed(f"{method} {path} answered {status}: {_error_text(data)}")
            return data

    def _request(self):
        if self._refresh_request is None:
            self._refresh_request = google_urllib3.Request(urllib3.PoolManager())
        return self._refresh_request


def _retry_after(status: int, headers) -> float | None:
    """A 503's Retry-After in seconds (urllib3 honours it), else None."""
    value = headers.get("Retry-After") if status == 503 else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _error_text(body: bytes) -> str:
    """The database's error message (`{"error": "..."}`), else the start of the body."""
    try:
        return str(json.loads(body)["error"])
    except (ValueError, KeyError, TypeError):
        return body[:200].decode(errors="replace")
