"""The database calls of `runtime.FirebaseTickets` over urllib3, with firebase-admin's own app settings.

firebase-admin sends each call through `Reference`, its `_Client`, google-auth's `AuthorizedSession` and
requests; requests alone is about 0.4 ms of CPU a call (prepare, merge settings, hooks, cookies), three calls
a ticket. This sends the same REST calls through google-auth's urllib3 transport instead, built from the
client firebase-admin made for the app: its URL, query parameters (the emulator's `ns`, an auth override),
credential (a service account's token, refreshed as it expires; the emulator's "owner") and timeout. So the
app's configuration, emulator mode included, is still decided by firebase-admin alone.

`from_reference` answers None when firebase-admin's client is not what this expects (a newer SDK, say),
or when the environment configures a proxy, netrc or CA bundle, which requests honours and urllib3 would not; callers
then keep firebase-admin's public API.
"""

import json
import urllib.parse

import urllib3
from google.auth.transport import urllib3 as google_urllib3

from enrichment._transport import environment_configures, tls_options

# As firebase-admin's HTTP client retries (`_http_client.DEFAULT_RETRY_CONFIG`): a lost connection or a
# 500/503 is tried again a few times before the call fails. Every call here may be repeated: a GET, or a
# PATCH of the same fields.
_RETRIES = urllib3.Retry(connect=1, read=1, status=4, status_forcelist=(500, 503), backoff_factor=0.5,
                         allowed_methods=None, raise_on_status=False, redirect=False)
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
        self._query = urllib.parse.urlencode(params)
        self._timeout = urllib3.Timeout(total=timeout_s) if timeout_s is not None else urllib3.Timeout(None)
        http = urllib3.PoolManager(num_pools=4, maxsize=_POOL_SIZE, retries=_RETRIES, headers=headers or {},
                                   **tls_options(self.base_url))
        self._http = google_urllib3.AuthorizedHttp(credential, http=http)
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
        url = f"{self.base_url}/{quoted}.json" + (f"?{query}" if query else "")
        try:
            resp = self._http.urlopen(method, url, body=body, headers={**self._headers, **_JSON} if body else None,
                                      timeout=self._timeout)
        except urllib3.exceptions.HTTPError as exc:
            raise DatabaseCallFailed(f"{method} {path} failed: {type(exc).__name__}: {exc}") from exc
        if not 200 <= resp.status < 300:
            raise DatabaseCallFailed(f"{method} {path} answered {resp.status}: {_error_text(resp.data)}")
        return resp.data


def _error_text(body: bytes) -> str:
    """The database's error message (`{"error": "..."}`), else the start of the body."""
    try:
        return str(json.loads(body)["error"])
    except (ValueError, KeyError, TypeError):
        return body[:200].decode(errors="replace")
