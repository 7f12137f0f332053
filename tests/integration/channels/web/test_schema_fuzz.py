"""Property-based fuzzing of the REST API from its own OpenAPI schema (schemathesis, in
process over ASGI): whatever valid or invalid request it generates, the API never answers
5xx, and documented responses match their schemas.

Bounded for CI: `MAX_EXAMPLES` per operation and mode, on one SQLite file (state builds up
across examples, which is fine: every request must cope with whatever is there). Each
operation runs as a subtest, so one report lists every operation that fails. Hypothesis is
driven directly (`as_strategy` + `given`) rather than through schemathesis's lazy pytest
loader, which writes `Node._nodeid`, gone in pytest 9.2.

Left out: the webhooks, because without a valid HMAC every generated request is a 401
before any payload is read, so fuzzing them tests only the signature check that
test_webhooks covers; and `/health`, whose 503 is a documented answer about the
mailboxes, not a fault.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import (  # every check is an attribute of this module
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)
from schemathesis.schemas import APIOperation

from tests.integration.channels.web.conftest import Api
from tests.support import is_ci

MAX_EXAMPLES = 20
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_never_answers_5xx_and_keeps_to_its_schema(
    api: Api, mode: GenerationMode, subtests: pytest.Subtests
) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    schema = schema.exclude(path_regex=r"^/api/webhooks/").exclude(path="/health")
    # alice may decide on drafts, so the approval paths run too, not only the 403 refusal.
    auth = api.auth("alice")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10  # the schema really was read
    if mode is GenerationMode.NEGATIVE:  # nothing to make invalid in, say, GET /metrics
        operations = [op for op in operations if _has_inputs(op)]

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,  # nothing written into the work tree
            derandomize=is_ci(),  # CI reproducible; local runs explore new inputs
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def call(case: Case) -> None:
            case.call_and_validate(headers=auth, checks=CHECKS)

        with subtests.test(msg=operation.label):
            call()


def _has_inputs(operation: APIOperation) -> bool:
    parts = (operation.path_parameters, operation.query, operation.headers, operation.body)
    return any(len(part) for part in parts)


def test_ids_and_versions_past_the_database_integer_are_422_not_500(api: Api) -> None:
    """Found by the fuzzer: /api/drafts/9223372036854775808/approve overflowed in the
    SQLite driver (a 500); PostgreSQL's INTEGER ends at 2**31 - 1 already."""
    created = api.client.post(
        "/api/tickets",
        json={"subject": "Hi", "message": "Help", "customer_email": "a@b.example"},
        headers=api.auth("alice"),
    )
    ref = created.json()["ticket"]["ref"]
    [draft] = api.client.get(f"/api/tickets/{ref}", headers=api.auth("alice")).json()["drafts"]
    for url, body, field in (
        (f"/api/drafts/{2**63}/approve", {"version": 1}, "draft_id"),
        (f"/api/drafts/{2**31}/reject", {"version": 1, "reason": "no"}, "draft_id"),
        (f"/api/drafts/{draft['id']}/approve", {"version": 2**63}, "version"),
        (f"/api/drafts/{draft['id']}/reject", {"version": 2**31, "reason": "no"}, "version"),
    ):
        response = api.client.post(url, json=body, headers=api.auth("alice"))
        assert response.status_code == 422, (url, response.text)
        assert field in response.text
    assert _draft_status(api, ref) == "pending"


def _draft_status(api: Api, ref: str) -> str:
    drafts = api.client.get(f"/api/tickets/{ref}", headers=api.auth("alice")).json()["drafts"]
    status: str = drafts[-1]["status"]
    return status
