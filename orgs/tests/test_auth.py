"""API token authentication (PRODUCT I2, API.md Basics)."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from orgs.auth import CompanyTokenAuthentication
from orgs.models import ApiToken
from orgs.services import api_token_create, api_token_revoke
from orgs.tenancy import company_context, current_company_id_or_none


def _authenticate(header: str | None):
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    request = Request(APIRequestFactory().get("/api/v1/", **extra))
    return CompanyTokenAuthentication().authenticate(request)


@pytest.fixture
def token(company):
    with company_context(company.id):
        return api_token_create(name="CRM", scopes=["read", "actions"])


def test_a_valid_token_binds_its_company_and_records_its_use(company, token):
    with company_context(None):
        principal, auth = _authenticate(f"Bearer {token.secret}")
        assert current_company_id_or_none() == company.id
    assert (principal.company_id, auth.id, auth.scopes) == (company.id, token.token.id, ["read", "actions"])
    with company_context(company.id):
        assert ApiToken.objects.get().last_used_at is not None


def test_last_use_is_written_at_most_once_a_minute(company, token):
    recent = timezone.now() - timedelta(seconds=5)
    with company_context(company.id):
        ApiToken.objects.update(last_used_at=recent)
    with company_context(None):
        _authenticate(f"Bearer {token.secret}")
    with company_context(company.id):
        assert ApiToken.objects.get().last_used_at == recent


def test_no_authorization_header_leaves_the_request_to_other_authenticators(db):
    assert _authenticate(None) is None
    assert _authenticate("Basic dXNlcjpwYXNz") is None


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer a b",
        "Bearer not-a-token",
        "Bearer kpi_x_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "Bearer kpi_999999_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        # issue 17: isdigit() yes, int() no; sent as UTF-8, which WSGI hands over as Latin-1
        "Bearer kpi_²_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".encode().decode("latin-1"),
        "Bearer kpi_99999999999999999999_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",  # issue 17: past bigint
    ],
)
def test_malformed_or_unknown_tokens_are_refused(db, header):
    with company_context(None), pytest.raises(AuthenticationFailed):
        _authenticate(header)


def test_a_revoked_token_is_refused(company, token):
    with company_context(company.id):
        api_token_revoke(token=token.token)
    with company_context(None), pytest.raises(AuthenticationFailed):
        _authenticate(f"Bearer {token.secret}")


def test_a_token_carrying_another_companys_id_finds_nothing(company, other_company, token):
    # given company A's secret with company B's id put in front of it
    forged = token.secret.replace(f"kpi_{company.id}_", f"kpi_{other_company.id}_", 1)
    with company_context(None), pytest.raises(AuthenticationFailed):
        _authenticate(f"Bearer {forged}")


def test_a_session_of_one_company_cannot_use_a_token_of_another(company, other_company, token):
    with company_context(other_company.id), pytest.raises(AuthenticationFailed):
        _authenticate(f"Bearer {token.secret}")


def test_the_api_schema_and_its_documentation_are_served_by_the_app(db, client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"openapi: 3" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html  # served by the app, no CDN
    assert "cdn." not in html
