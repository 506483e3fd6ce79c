"""A Zendesk Tickets API client: create or update the helpdesk ticket of one database ticket.

Idempotent by construction, so redelivered events never create a second ticket: the database
ticket id is the helpdesk ticket's `external_id`. A ticket already linked is updated by its helpdesk
id. Otherwise, when an earlier attempt may have created it and its key may be forgotten (the caller
knows: see `may_exist`), the client looks it up by `external_id` (Zendesk's list filter) and updates it
if found. Creation carries an `Idempotency-Key` (the caller's: one per database ticket), which Zendesk
keeps two hours: a repeated creation with the same body replays the first answer; with another body
(the ticket was edited, or another model predicted) Zendesk refuses it with `IdempotentRequestError`,
and the client then looks the ticket up and updates it. Works against real Zendesk and against the
local stub (helpdesk/).
"""

import base64
import hashlib
import json as json_module
import urllib.parse

import requests
import urllib3
from ticketml.mask import mask_pii

from enrichment._keptalive import CallFailed, KeptAlive
from enrichment._transport import environment_configures, tls_options
from enrichment.errors import PermanentError, TransientError

SYSTEM = "zendesk"
# Our P1..P4 onto Zendesk's priorities.
ZENDESK_PRIORITY = {"P1": "urgent", "P2": "high", "P3": "normal", "P4": "low"}
OUR_PRIORITY = {v: k for k, v in ZENDESK_PRIORITY.items()}
ZENDESK_TYPE = {"issue": "problem", "request": "question"}
_POOL_SIZE = 16  # connections kept: at least the function's serving threads
# As a requests session calls: no retry (a failed call is a TransientError, and the event is redelivered),
# redirects followed.
_RETRIES = urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=10, raise_on_redirect=True)
_USER_AGENT = f"ticket-enrichment urllib3/{urllib3.__version__}"
_REDIRECTS = (301, 302, 303, 307, 308)


class NotFound(PermanentError):
    """The helpdesk answered 404."""


class KeyReused(PermanentError):
    """The helpdesk refused a creation whose Idempotency-Key came before with another body."""


class HelpdeskClient:
    """Talks to one helpdesk.

    Calls go over kept-alive connections (`_keptalive`; a redirect is followed through urllib3),
    unless `session` is given or the environment configures a proxy, a netrc file or a CA bundle (see
    `_transport`): then through a requests session, which honours those.

    Args:
      base_url: e.g. https://acme.zendesk.com or http://127.0.0.1:5005.
      token: API token; with `email`, sent as Zendesk's `email/token:token` Basic auth, else Bearer.
      timeout_s: seconds per call.
      session: a requests.Session to send the calls with (one per function instance, for connection reuse).
    """

    def __init__(self, base_url: str, token: str, email: str = "", timeout_s: float = 10.0, session=None):
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        if email:
            authorization = "Basic " + base64.b64encode(f"{email}/token:{token}".encode()).decode()
        else:
            authorization = f"Bearer {token}"
        self.session = None
        self._http = None
        self._fast = None
        if session is None and not environment_configures(self.base_url):
            # Calls over kept-alive connections (_keptalive: a sixth of urllib3's CPU a call); an answer
            # that redirects is followed through urllib3, as requests would follow it.
            self._fast = KeptAlive(self.base_url, timeout_s, keep=_POOL_SIZE)
            self._prefix = urllib.parse.urlsplit(self.base_url).path
            self._http = urllib3.PoolManager(num_pools=2, maxsize=_POOL_SIZE, retries=_RETRIES,
                                             headers={"Authorization": authorization, "User-Agent": _USER_AGENT},
                                             **tls_options(self.base_url))
        else:
            self.session = session or requests.Session()
            self.session.headers["Authorization"] = authorization

    @property
    def transport(self) -> str:
        """"kept-alive" or "requests": which one the calls take."""
        return "requests" if self._http is None else "kept-alive"

    def upsert(self, ticket_id: str, ticket: dict, enrichment: dict, idempotency_key: str,
               known_id=None, may_exist: bool = True) -> dict:
        """Create the helpdesk ticket for `ticket_id`, or update it if it exists.

        Args:
          known_id: the helpdesk id already linked to the ticket: updated directly (created anew if
            someone deleted it in the helpdesk).
          may_exist: False when every earlier attempt that may have reached the helpdesk for this ticket
            did so under `idempotency_key` recently enough for the helpdesk to remember it: saves the lookup
            by external_id.

        Returns:
          {"id": helpdesk id, "url": agent-facing URL, "created": bool}

        Raises:
          TransientError: unreachable, timed out, 5xx or 429.
          PermanentError: any other refusal (bad token, invalid fields).
        """
        fields = ticket_fields(ticket_id, ticket, enrichment)
        update = {k: v for k, v in fields.items() if k not in ("comment", "requester", "external_id")}
        update["comment"] = {"body": _summary(enrichment), "public": False}
        if known_id is not None:
            try:
                body = self._call("PUT", f"/api/v2/tickets/{known_id}.json", json={"ticket": update})
                return {"id": body["ticket"]["id"], "url": self._agent_url(body["ticket"]["id"]), "created": False}
            except NotFound:
                may_exist = True  # deleted in the helpdesk: another one may carry the external_id
        existing = self.find(ticket_id) if may_exist else None
        if existing is not None:
            body = self._call("PUT", f"/api/v2/tickets/{existing['id']}.json", json={"ticket": update})
            return {"id": body["ticket"]["id"], "url": self._agent_url(body["ticket"]["id"]), "created": False}
        try:
            body = self._call("POST", "/api/v2/tickets.json", json={"ticket": fields},
                              headers={"Idempotency-Key": idempotency_key})
        except KeyReused:
            # An earlier attempt created the ticket from another body: update that one.
            existing = self.find(ticket_id)
            if existing is not None:
                body = self._call("PUT", f"/api/v2/tickets/{existing['id']}.json", json={"ticket": update})
                return {"id": body["ticket"]["id"], "url": self._agent_url(body["ticket"]["id"]), "created": False}
            # ... and someone deleted it in the helpdesk since: a key of this body's own, as stable on retry.
            digest = hashlib.sha256(json_module.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]
            body = self._call("POST", "/api/v2/tickets.json", json={"ticket": fields},
                              headers={"Idempotency-Key": f"{idempotency_key}:{digest}"})
        return {"id": body["ticket"]["id"], "url": self._agent_url(body["ticket"]["id"]), "created": True}

    def find(self, ticket_id: str) -> dict | None:
        """The helpdesk ticket whose external_id is `ticket_id`, or None."""
        body = self._call("GET", "/api/v2/tickets.json", params={"external_id": ticket_id})
        tickets = body.get("tickets") or []
        return min(tickets, key=lambda t: t["id"]) if tickets else None

    def _agent_url(self, helpdesk_id) -> str:
        return f"{self.base_url}/agent/tickets/{helpdesk_id}"

    def _call(self, method: str, path: str, params=None, json=None, headers=None) -> dict:
        url = self.base_url + path
        try:
            status, body = self._send(method, url, params, json, headers or {})
        except (requests.RequestException, urllib3.exceptions.HTTPError, CallFailed) as exc:
            # The reason goes in the log line (refused, timed out, closed before an answer...), not only its type.
            raise TransientError(f"Helpdesk unreachable at {url}: {type(exc).__name__}: {str(exc)[:200]}") from exc
        if status >= 500 or status == 429:
            raise TransientError(f"Helpdesk answered {status} to {method} {path}.")
        if status == 404:
            raise NotFound(f"Helpdesk answered 404 to {method} {path}.")
        text = body.decode("utf-8", errors="replace")
        if status == 400 and "IdempotentRequestError" in text and _error_name(text) == "IdempotentRequestError":
            raise KeyReused(f"Helpdesk refused {method} {path}: its Idempotency-Key came before with another body.")
        if status >= 400:
            raise PermanentError(f"Helpdesk refused {method} {path} with {status}: {text[:300]}")
        try:
            return json_module.loads(text)
        except ValueError as exc:
            raise TransientError(f"Helpdesk answered {method} {path} with non-JSON: {text[:100]!r}.") from exc

    def _send(self, method: str, url: str, params, json, headers: dict) -> tuple[int, bytes]:
        """One HTTP call: (status, body)."""
        if self._http is None:
            resp = self.session.request(method, url, params=params, json=json, headers=headers, timeout=self.timeout_s)
            return resp.status_code, resp.content
        query = "?" + urllib.parse.urlencode(params) if params else ""
        body = None
        if json is not None:
            body = json_module.dumps(json).encode()
            headers = {**self._http.headers, **headers, "Content-Type": "application/json"}
        else:
            headers = {**self._http.headers, **headers}
        target = self._prefix + url[len(self.base_url):] + query  # url is base_url + path
        status, answer_headers, data = self._fast.request(method, target, body, headers)
        if status in _REDIRECTS and answer_headers.get("Location"):  # rare: urllib3 calls again and follows it
            resp = self._http.request(method, url + query, body=body, headers=headers,
                                      timeout=urllib3.Timeout(total=self.timeout_s))
            return resp.status, resp.data
        return status, data


def _error_name(text: str):
    """The `error` of a Zendesk error answer, or None."""
    try:
        answer = json_module.loads(text)
    except ValueError:
        return None
    return answer.get("error") if isinstance(answer, dict) else None


def ticket_fields(ticket_id: str, ticket: dict, enrichment: dict) -> dict:
    """The Zendesk ticket for a database ticket: masked text, mapped priority and type, tags."""
    contact = ticket.get("contact") or {}
    sentiment = enrichment["sentiment"]["label"]
    tags = [f"category_{ticket['category']}", f"sentiment_{sentiment}", "enriched"]
    if enrichment.get("needs_review"):
        tags.append("needs_review")
    if isinstance(enrichment.get("language"), str):
        tags.append(f"language_{enrichment['language']}")
    return {
        "external_id": ticket_id,
        "subject": mask_pii(ticket["subject"]),
        "comment": {"body": mask_pii(ticket["description"]) + "\n\n" + _summary(enrichment)},
        "priority": ZENDESK_PRIORITY[enrichment["priority"]],
        "type": ZENDESK_TYPE.get(ticket.get("type"), "question"),
        "tags": tags,
        "requester": {"name": contact.get("name"), "email": contact.get("email")},
    }


def _summary(enrichment: dict) -> str:
    hours = enrichment["resolution_hours"]
    return (f"Predicted priority {enrichment['priority']} "
            f"({enrichment['priority_scores'][enrichment['priority']]:.0%} sure"
            f"{_review(enrichment)}); "
            f"sentiment {enrichment['sentiment']['label']} ({enrichment['sentiment']['score']:+.2f}); "
            f"expected resolution {hours['p50']:.1f} h, at most {hours['p90']:.1f} h. "
            f"Model {enrichment['model_version']}.")


def _review(enrichment: dict) -> str:
    if not enrichment.get("needs_review"):
        return ""
    reasons = [r for r in enrichment.get("review_reasons") or [] if isinstance(r, str)]
    return f", needs review: {', '.join(reasons)}" if reasons else ", needs review"
