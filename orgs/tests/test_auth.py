"""API token authentication (PRODUCT I2, API.md Basics)."""

from datetime import timedelta

import pytest
from django.test import Client
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


# --- Sign-in to one company's account (O3, issue 17) -------------------------------------------------

LOGIN = "/accounts/login/"
SHARED = "shared-2026-pass"


def _person_in(*companies, email="pat@example.com", password=SHARED):
    """The same e-mail with an account in each of ``companies``: {company slug: member}."""
    from orgs.services import member_create

    people = {}
    for each in companies:
        with company_context(each.id):
            people[each.slug] = member_create(email=email, first_name=each.name, password=password)
    return people


def _signed_in_as(client):
    return client.session.get("_auth_user_id")


@pytest.fixture
def third_company(db):
    from orgs.services import company_create

    return company_create(slug="initech", name="Initech", languages=["en"], time_zone="UTC")[0]


def test_a_password_that_opens_two_accounts_asks_which_company_and_signs_in_to_the_chosen(
    client, company, other_company
):
    """O3, issue 17: sign-in asks which company when the e-mail has several accounts."""
    # given Pat, with the same password at Acme and Globex
    people = _person_in(company, other_company)
    # when Pat signs in
    asked = client.post(LOGIN, {"username": "Pat@Example.com", "password": SHARED})
    # then nobody is signed in yet, and the page offers both companies, by name
    assert asked.status_code == 200
    assert _signed_in_as(client) is None
    assert [label for _value, label in asked.context["form"].fields["company"].choices] == ["Acme", "Globex"]
    html = asked.content.decode()
    assert "Choose the one to sign in to." in html
    assert 'name="company"' in html
    assert SHARED not in html  # the second step does not carry the password
    # when Pat chooses Globex
    chosen = client.post(LOGIN, {"username": "pat@example.com", "company": other_company.id})
    # then Pat is signed in to Globex's account
    assert chosen.status_code == 302
    assert _signed_in_as(client) == str(people["globex"].pk)


def test_the_choice_offers_only_the_companies_whose_account_the_password_opened(
    client, company, other_company, third_company
):
    """O3, issue 17: no oracle: a company whose account the password did not open is never named."""
    _person_in(company, other_company)
    _person_in(third_company, password="initech-2026-other")
    asked = client.post(LOGIN, {"username": "pat@example.com", "password": SHARED})
    assert [label for _value, label in asked.context["form"].fields["company"].choices] == ["Acme", "Globex"]
    assert "Initech" not in asked.content.decode()
    # and Initech cannot be chosen by posting its id
    refused = client.post(LOGIN, {"username": "pat@example.com", "company": third_company.id})
    assert _signed_in_as(client) is None
    assert refused.status_code == 200


def test_a_password_that_opens_one_of_the_accounts_signs_in_to_it_without_asking(
    client, company, other_company
):
    """O3, issue 17: each account has its own password; the other company is never mentioned."""
    _person_in(company, password="acme-2026-pass-word")
    theirs = _person_in(other_company, password="globex-2026-pass-word")["globex"]
    response = client.post(LOGIN, {"username": "pat@example.com", "password": "globex-2026-pass-word"})
    assert response.status_code == 302
    assert _signed_in_as(client) == str(theirs.pk)


def test_a_wrong_password_for_every_account_is_the_usual_refusal(client, company, other_company):
    _person_in(company, other_company)
    response = client.post(LOGIN, {"username": "pat@example.com", "password": "wrong-2026-pass"})
    assert response.status_code == 200
    assert response.context["form"].fields["company"].choices == []
    assert "Please enter a correct" in response.content.decode()
    assert _signed_in_as(client) is None


def test_a_company_cannot_be_chosen_without_the_password_first(client, company, other_company):
    """The second step signs in only to an account the first step's password opened, in this session."""
    people = _person_in(company, other_company)
    # a first step in another browser does not help this one
    Client().post(LOGIN, {"username": "pat@example.com", "password": SHARED})
    response = client.post(LOGIN, {"username": "pat@example.com", "company": company.id})
    assert response.status_code == 200
    assert _signed_in_as(client) is None
    # nor does a first step for another e-mail
    client.post(LOGIN, {"username": "pat@example.com", "password": SHARED})
    client.post(LOGIN, {"username": "someone@example.com", "company": company.id})
    assert _signed_in_as(client) is None
    # and the choice expires
    session = client.session
    session["sign_in_choice"]["until"] = 0
    session.save()
    expired = client.post(LOGIN, {"username": "pat@example.com", "company": company.id})
    assert _signed_in_as(client) is None
    assert "the choice of company has expired" in expired.content.decode()
    assert people  # both accounts exist throughout


def test_an_inactive_account_is_not_offered(client, company, other_company):
    from orgs.services import member_update

    people = _person_in(company, other_company)
    with company_context(company.id):
        member_update(member=people["acme"], is_active=False)
    response = client.post(LOGIN, {"username": "pat@example.com", "password": SHARED})
    assert response.status_code == 302
    assert _signed_in_as(client) == str(people["globex"].pk)


def test_the_admin_sign_in_asks_which_company_too(client, company, other_company):
    """O3, issue 17: the admin's sign-in page is the same form, for company admins."""
    from orgs.models import Role
    from orgs.services import member_create

    for each in (company, other_company):
        with company_context(each.id):
            member_create(email="boss@example.com", role=Role.ADMIN, password=SHARED)
    asked = client.post("/admin/login/", {"username": "boss@example.com", "password": SHARED})
    assert asked.status_code == 200
    assert 'id="company-choice"' in asked.content.decode()
    chosen = client.post(
        "/admin/login/", {"username": "boss@example.com", "company": company.id, "next": "/admin/"}
    )
    assert chosen.status_code == 302
    assert client.get("/admin/").status_code == 200
    assert "Acme administration" in client.get("/admin/").content.decode()


def test_sign_in_throttling_counts_the_email_once_whatever_its_accounts(client, company, other_company):
    """django-axes still locks an e-mail out after five failures, and a right password that needs
    a choice counts as no failure."""
    _person_in(company, other_company)
    for _attempt in range(4):
        client.post(
            LOGIN, {"username": "pat@example.com", "password": "wrong-2026-pass"}, REMOTE_ADDR="192.0.2.5"
        )
    asked = client.post(LOGIN, {"username": "pat@example.com", "password": SHARED}, REMOTE_ADDR="192.0.2.5")
    assert asked.status_code == 200  # the choice: no fifth failure
    client.post(
        LOGIN, {"username": "pat@example.com", "password": "wrong-2026-pass"}, REMOTE_ADDR="192.0.2.5"
    )
    locked = client.post(LOGIN, {"username": "pat@example.com", "password": SHARED}, REMOTE_ADDR="192.0.2.5")
    assert locked.status_code == 429


def test_the_backend_runs_the_hasher_even_for_an_unknown_email(db, monkeypatch):
    """As ModelBackend: an unknown address takes as long as a wrong password."""
    from django.contrib.auth import base_user

    from orgs.auth import EmailBackend

    calls = []
    original = base_user.make_password
    monkeypatch.setattr(base_user, "make_password", lambda *args: calls.append(1) or original(*args))
    assert EmailBackend().authenticate(None, username="nobody@example.com", password="x-2026-pass") is None
    assert calls
