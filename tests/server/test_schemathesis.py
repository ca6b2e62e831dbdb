"""Property-based checks of the running API against its own OpenAPI document.

Schemathesis generates requests from the document, sends them to a real
server on PostgreSQL and checks each response: no 5xx, a documented status,
content type, headers and body schema. The number of examples per operation
is bounded so the run stays short.

The document is built at import from the application itself, because
schemathesis needs it when pytest collects the tests, before any server runs.
A test below checks that the server publishes the same document.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import CheckFunction
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    positive_data_acceptance,
)

from blobstore.api import create_app
from blobstore.config import Settings
from tests.server.conftest import LiveServer

pytestmark = pytest.mark.postgres

MAX_EXAMPLES = 25
STATEFUL_EXAMPLES = 15

SPEC = create_app(Settings.from_env({})).state.openapi
# A valid Range or If-Match can still miss the file that the key names, so
# 412 and 416 are correct for schema-valid requests, as 404 is for an unknown key.
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "3xx", "401", "403", "404", "412", "416"]
            }
        }
    }
)
schema = schemathesis.openapi.from_dict(SPEC, config=CONFIG)


def test_server_publishes_the_tested_document(live_server: LiveServer) -> None:
    assert httpx.get(f"{live_server.url}/openapi.json").json() == SPEC


def excluded_checks(case: schemathesis.Case) -> list[CheckFunction]:
    method = case.operation.method.upper()
    path = case.operation.path
    if method == "POST":
        # An upload can be schema-valid and still wrong: a sha256 field or a
        # Content-Digest that does not match the file is rejected with 400. And
        # every multipart field is text, so a "schema-violating" value such as a
        # null tag arrives as the valid tag "null". Both checks would judge the
        # generator, not the service.
        return [positive_data_acceptance, negative_data_rejection]

    excluded: list[CheckFunction] = []
    query = case.query or {}
    # Tags are trimmed, lowercased and split at commas, and empty entries are
    # skipped, before they are checked, so some values outside the Tags
    # pattern (" a", "a,b", "") are accepted on purpose.
    if path == "/files/{key}/tags" or (path == "/files" and query.get("tag")):
        excluded.append(negative_data_rejection)
    # A PATCH that adds and removes the same tag, or that takes a file past 32
    # tags, is schema-valid and rightly rejected; no schema can say either.
    if path == "/files/{key}/tags" and method == "PATCH":
        excluded.append(positive_data_acceptance)
    # A cursor is opaque: a string the service did not issue is rejected, and
    # the generator cannot make one that it did.
    if path == "/files" and query.get("cursor"):
        excluded.append(positive_data_acceptance)
    return excluded


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: schemathesis.Case, live_server: LiveServer) -> None:
    case.call_and_validate(base_url=live_server.url, excluded_checks=excluded_checks(case))


def test_upload_then_read_and_delete_workflows_conform(live_server: LiveServer) -> None:
    # The OpenAPI links of the upload response lead from each new file's key
    # to GET, HEAD, metadata and DELETE, so these reach files that exist.
    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"base_url": live_server.url}

        def validate_response(
            self,
            response: schemathesis.Response,
            case: schemathesis.Case,
            *args: Any,
            **kwargs: Any,
        ) -> None:
            case.validate_response(response, excluded_checks=excluded_checks(case))

    Workflow.run(
        settings=settings(
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=4,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
    )
