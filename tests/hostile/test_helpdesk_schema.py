"""Schemathesis against a real helpdesk stub: requests generated from its own OpenAPI description.

For every operation in `/api/v2/openapi.json`, valid and invalid requests are generated (bodies,
path ids, query parameters, headers) and sent with the stub's default token; every answer must be
below 500, have a documented status and content type, and match the documented schema.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import InvalidArgument
from schemathesis import checks
from schemathesis.generation import GenerationMode

from tests.hostile.conftest import HELPDESK_AUTH, LONG

CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_headers_conformance, checks.response_schema_conformance]
EXAMPLES = settings(max_examples=400 if LONG else 30, deadline=None, derandomize=not LONG, database=None,
                    suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def api(helpdesk):
    """The stub's OpenAPI description, loaded from the running server."""
    return schemathesis.openapi.from_url(f"{helpdesk.url}/api/v2/openapi.json")


def _operations(schema):
    return [result.ok() for result in schema.get_all_operations()]


def test_the_description_lists_every_operation(api):
    names = {op.label for op in _operations(api)}
    assert {"GET /api/v2/tickets", "POST /api/v2/tickets", "GET /api/v2/tickets/{ticket_id}",
            "PUT /api/v2/tickets/{ticket_id}"} <= names, names


@pytest.mark.parametrize("mode, auth", [(GenerationMode.POSITIVE, HELPDESK_AUTH), (GenerationMode.NEGATIVE, HELPDESK_AUTH),
                                        (GenerationMode.POSITIVE, None)], ids=["valid", "invalid", "no-token"])
def test_generated_requests_get_documented_answers(api, helpdesk, mode, auth):
    failures = []
    for operation in _operations(api):
        strategy = operation.as_strategy(generation_mode=mode)

        @EXAMPLES
        @given(case=strategy)
        def run(case):
            response = case.call(base_url=helpdesk.url, headers=auth, timeout=30)
            case.validate_response(response, checks=CHECKS, headers=auth)
            if auth is None:  # whatever credentials the generator made up, they are not the stub's token
                assert response.status_code == 401, (response.status_code, response.text[:200])

        try:
            run()
        except InvalidArgument as exc:  # the generator's limit (a string over maxLength 65536), not the stub's
            assert "larger than Hypothesis supports" in str(exc), exc
        except Exception as exc:  # collect per operation, so one report names every broken operation
            failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)
    assert helpdesk.proc.poll() is None and "Traceback" not in helpdesk.output, helpdesk.output[-3000:]
