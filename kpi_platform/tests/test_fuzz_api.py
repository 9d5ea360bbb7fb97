"""API fuzzing (issue 8 item 3; API.md Basics): schemathesis against the schema the app serves.

Every operation of ``/api/schema/`` — whatever apps add to it — gets generated requests, valid and
invalid, sent through the WSGI application with a real token of every scope, against a company
with data in it. No answer may be a 500, and every answer must be what the schema says: a
documented status, content type, headers and body.
"""

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from kpis.tests.factories import make_active_kpi, make_target
from orgs.models import Role, TokenScope
from orgs.services import api_token_create, department_create, team_create
from orgs.tenancy import company_context
from ratings.services import actions_record

EXAMPLES_PER_OPERATION = 25  # valid and as many invalid: the whole schema in a minute or two
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def token(company, make_member, settings) -> str:
    """A token of every scope, of a company with an org, KPIs, a target and actions to find."""
    # the fuzzer sends far more than a client's per-minute share: no rate limit here
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": None}}
    with company_context(company.id):
        department = department_create(name="Sales")
        team = team_create(name="North", department=department)
    seller = make_member(company, team=team, role=Role.MEMBER, email="seller@acme.example")
    make_member(company, department=department, role=Role.MANAGER, email="manager@acme.example")
    with company_context(company.id):
        kpi = make_active_kpi(company, in_rating=True, integration_name="calls")
        make_target(kpi=kpi)
        actions_record(items=[{"kpi": kpi, "user": seller, "value": "3", "external_id": "crm-1"}])
        return api_token_create(name="fuzz", scopes=list(TokenScope.values)).secret


def _operations() -> list[tuple[str, str]]:
    """The schema's operations, for test ids (schemathesis' own parametrize needs a pytest < 9)."""
    from drf_spectacular.generators import SchemaGenerator

    document = SchemaGenerator().get_schema(request=None, public=True)
    return [(method.upper(), path) for path, item in document["paths"].items() for method in item]


OPERATIONS = _operations()


@pytest.fixture(scope="session")
def served_schema(django_db_setup, django_db_blocker) -> dict:
    """The schema exactly as ``/api/schema/`` serves it, fetched once."""
    with django_db_blocker.unblock():
        response = Client().get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def test_every_served_operation_is_fuzzed(served_schema):
    served = [(method.upper(), path) for path, item in served_schema["paths"].items() for method in item]
    assert sorted(served) == sorted(OPERATIONS)


@pytest.fixture
def connection_kept():
    """Keep the test's database connection across requests, as Django's test client does:
    schemathesis' WSGI client sends request_finished, which would close it mid-test."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.mark.usefixtures("connection_kept")
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_operation_answers_as_its_schema_says_and_never_500(served_schema, token, method, path):
    schema = schemathesis.openapi.from_dict(served_schema)
    schema.app = get_wsgi_application()  # requests go through the whole Django stack, in-process
    operation = schema[path][method]
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):  # valid input, then invalid

        @given(case=operation.as_strategy(mode))
        @hypothesis_settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,  # no example database: every run starts afresh
            derandomize=True,  # the same cases on every run: a failure in CI reproduces here
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case):
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

        fuzz()
