"""What a hostile client sends, answered in API.md's error format and never with a 500 (issue 17;
API.md Basics: "Never a 500 for bad input").

Most of these only fail on PostgreSQL, whose text takes no lone surrogate and no NUL, whose time
zones end at ±15:59 and whose bigint ends at 2^63 - 1: run them there too.
"""

import pytest

from kpis.tests.factories import make_active_kpi
from orgs.models import Role
from orgs.tenancy import company_context
from ratings.models import KpiAction

ACTIONS = "/api/v1/actions/"
SECRET = "a" * 40


def _post_raw(client, path: str, body: str):
    """``body`` as it is: ``json.dumps`` escapes a lone surrogate as ``\\ud800``, as a client would."""
    return client.generic("POST", path, body.encode(), content_type="application/json")


def _codes(response) -> list[tuple[str, str | None, int | None]]:
    return [(error["code"], error["field"], error["index"]) for error in response.json()["errors"]]


@pytest.fixture
def admin_client(company, make_member, token_client):
    make_member(company, Role.ADMIN, email="admin@acme.example")
    make_member(company, email="ann@acme.example")
    with company_context(company.id):
        make_active_kpi(company, integration_name="calls", in_rating=True, rating_units="1", rating_points=1)
    return token_client(company, scopes=("read", "actions", "definitions", "org"))


def _recorded(company) -> int:
    with company_context(company.id):
        return KpiAction.objects.count()


# --- 5. Tokens ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "company_part",
    ["²", "٣", "99999999999999999999", "9223372036854775808"],
    ids=["a superscript digit", "an Arabic-Indic digit", "past bigint", "bigint + 1"],
)
def test_a_token_whose_company_id_is_no_bigint_is_401(db, api_client, company_part):
    """Issue 17 item 5: ``isdigit()`` takes ``²``, which ``int()`` refuses, and a number past
    bigint broke the row-level policy's cast; both are a malformed token, 401."""
    header = f"Bearer kpi_{company_part}_{SECRET}"
    api_client.credentials(HTTP_AUTHORIZATION=header.encode().decode("latin-1"))  # as WSGI hands it over

    response = api_client.get(ACTIONS)

    assert response.status_code == 401, response.content
    assert _codes(response) == [("not_authenticated", None, None)]
