"""The HTTP boundary: request bodies parsed strictly, stub errors turned into Zendesk's JSON shapes.

``register_error_handlers`` is the one place where exceptions become status codes.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError

from helpdesk.errors import BadRequest, HelpdeskError, NotFound, RecordInvalid

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
_SNIPPET_CHARS = 60
_PATH_CHARS = 200
_JSON_PREFIXES = ("/api/", "/_stub/", "/healthz")


def read_json() -> Any:
    """Parses the current request's body as strict JSON (no NaN/Infinity, valid UTF-8).

    Returns:
        The decoded value.

    Raises:
        BadRequest: the body is empty, not UTF-8, not JSON, too deep, or holds lone surrogates.
    """
    raw = request.get_data(cache=True)
    snippet = raw[:_SNIPPET_CHARS].decode("utf-8", "replace")
    if not raw.strip():
        raise BadRequest('Invalid JSON: "". The body must be a JSON object.', error="InvalidJSON")
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeError as exc:
        raise BadRequest(f'Invalid JSON: "{snippet}". The body must be valid UTF-8 text.',
                         error="InvalidJSON") from exc
    except json.JSONDecodeError as exc:
        raise BadRequest(f'Invalid JSON: "{snippet}". {exc.msg} at line {exc.lineno} column {exc.colno}.',
                         error="InvalidJSON") from exc
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f'Invalid JSON: "{snippet}". {exc}.', error="InvalidJSON") from exc
    return data


def error_body(exc: HelpdeskError) -> tuple[dict[str, Any], int]:
    """Maps a stub error to Zendesk's error body and HTTP status.

    Args:
        exc: the error raised by validation, the store or a handler.

    Returns:
        ``(body, status)``: 400 (422 past the search limit) ``{error, description}``, 404 ``RecordNotFound``, or 422
        ``RecordInvalid`` with ``details`` ``{field: [{"description": ..., "error": "InvalidValue"}]}``.
    """
    if isinstance(exc, RecordInvalid):
        details = {field: [{"description": msg, "error": "InvalidValue"} for msg in msgs]
                   for field, msgs in exc.details.items()}
        return {"error": "RecordInvalid", "description": "Record validation errors", "details": details}, 422
    if isinstance(exc, NotFound):
        return {"error": "RecordNotFound", "description": "Not found"}, 404
    if isinstance(exc, BadRequest):
        return {"error": exc.error, "description": exc.description}, exc.status
    return {"error": "InternalError", "description": str(exc)}, 500


def register_error_handlers(app: Flask) -> None:
    """Answers stub errors, and HTTP errors on API paths, with Zendesk-style JSON."""

    @app.errorhandler(HelpdeskError)
    def _stub_error(exc: HelpdeskError) -> tuple[Response, int]:
        body, status = error_body(exc)
        return jsonify(body), status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response | HTTPException:
        if not request.path.startswith(_JSON_PREFIXES):
            return exc
        if isinstance(exc, InternalServerError):
            log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc.original_exception)
        if exc.code == 404:  # no route matched (a missing record is a stub NotFound, answered above)
            body = {"error": "InvalidEndpoint", "description": f"Not found: the helpdesk stub does not serve "
                    f"{request.method} {request.path[:_PATH_CHARS]} (its endpoints: /api/v2/openapi.json)."}
        elif exc.code == 405:
            body = {"error": "MethodNotAllowed", "description": f"Invalid method: \"{request.method}\". "
                    f"{request.path[:_PATH_CHARS]} allows {exc.get_response().headers.get('Allow', 'none')}."}
        else:
            body = {"error": (exc.name or "Error").replace(" ", ""), "description": exc.description}
        response = jsonify(body)
        response.status_code = exc.code or 500
        for name in ("Allow", "WWW-Authenticate"):
            if name in exc.get_response().headers:
                response.headers[name] = exc.get_response().headers[name]
        return response


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
