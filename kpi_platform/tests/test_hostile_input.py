"""What a hostile client sends, answered in API.md's error format and never with a 500 (issue 17;
API.md Basics: "Never a 500 for bad input").

Most of these only fail on PostgreSQL, whose text takes no lone surrogate and no NUL, whose time
zones end at ±15:59 and whose bigint ends at 2^63 - 1: run them there too.
"""

import json

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


# --- 6. Deeply nested JSON ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", [ACTIONS, "/api/v1/members/", "/api/v1/kpis/", "/api/v1/units/", "/api/v1/targets/"]
)
@pytest.mark.parametrize("depth", [100, 900, 100_000])
def test_deeply_nested_json_is_a_parse_error(company, admin_client, path, depth):
    """Issue 17 item 6: the decoder and the NUL check recursed until RecursionError (a 500)."""
    body = "[" * depth + "]" * depth

    response = _post_raw(admin_client, path, body)

    assert response.status_code == 400, response.content[:300]
    assert _codes(response) == [("parse_error", None, None)]
    assert _recorded(company) == 0


def test_json_nested_as_deep_as_any_field_needs_is_still_read(company, admin_client):
    """The depth limit leaves room: a batch of objects with a localized name is three levels."""
    response = admin_client.post(
        ACTIONS, [{"kpi": "calls", "user": "ann@acme.example", "value": "1"}], format="json"
    )

    assert response.status_code == 201, response.content


# --- 7. Lone surrogates ---------------------------------------------------------------------------

LONE = "\ud800"


@pytest.mark.parametrize(
    ("path", "body", "field", "index"),
    [
        (
            ACTIONS,
            [{"kpi": "calls", "user": "ann@acme.example", "value": "1", "comment": LONE}],
            "comment",
            0,
        ),
        (ACTIONS, [{"kpi": f"calls{LONE}", "user": "ann@acme.example", "value": "1"}], "kpi", 0),
        (ACTIONS, {"kpi": "calls", "user": f"{LONE}@acme.example", "value": "1"}, "user", None),
        (
            ACTIONS,
            {"kpi": "calls", "user": "ann@acme.example", "value": "1", "external_id": LONE},
            "external_id",
            None,
        ),
        ("/api/v1/members/", {"email": "eve@acme.example", "first_name": f"Eve{LONE}"}, "first_name", None),
        ("/api/v1/departments/", {"name": LONE}, "name", None),
        ("/api/v1/units/", {"name": {"en": f"visits{LONE}"}}, "name.en", None),
        ("/api/v1/units/", {"name": {LONE: "visits"}}, "name", None),
        (
            "/api/v1/kpis/",
            {"name": {"en": "Calls 2"}, "description": {"en": f"a{LONE}b"}},
            "description.en",
            None,
        ),
    ],
    ids=[
        "a comment",
        "a kpi",
        "a user",
        "an external id",
        "a first name",
        "a department",
        "a unit's name",
        "a language key",
        "a description",
    ],
)
def test_a_lone_surrogate_in_any_string_is_invalid_naming_its_field(
    company, admin_client, path, body, field, index
):
    """Issue 17 item 7: PostgreSQL cannot encode ``\\ud800`` (psycopg's UnicodeEncodeError, a 500)."""
    response = _post_raw(admin_client, path, json.dumps(body))

    assert response.status_code == 400, response.content[:300]
    assert _codes(response) == [("invalid", field, index)]
    assert _recorded(company) == 0


# --- 8. Time-zone offsets -------------------------------------------------------------------------


@pytest.mark.parametrize("offset", ["+23:59", "-16:00", "+16:00"])
def test_an_offset_beyond_what_a_database_keeps_is_occurred_at_invalid(company, admin_client, offset):
    """Issue 17 item 8: PostgreSQL keeps offsets up to ±15:59; ``+23:59`` was a DataError."""
    item = {
        "kpi": "calls",
        "user": "ann@acme.example",
        "value": "1",
        "occurred_at": f"2026-01-01T00:00:00{offset}",
    }

    response = admin_client.post(ACTIONS, [item], format="json")

    assert response.status_code == 400, response.content[:300]
    assert _codes(response) == [("occurred_at_invalid", "occurred_at", 0)]
    assert _recorded(company) == 0


def test_the_widest_offsets_a_database_keeps_are_accepted(company, admin_client):
    items = [
        {
            "kpi": "calls",
            "user": "ann@acme.example",
            "value": "1",
            "occurred_at": f"2026-01-01T00:00:00{offset}",
        }
        for offset in ("+15:59", "-15:59", "+14:00")
    ]

    response = admin_client.post(ACTIONS, items, format="json")

    assert response.status_code == 201, response.content[:300]


# --- 11. NUL in a query string --------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/admin/orgs/member/?role=%00",
        "/admin/kpis/kpi/search/?q=%00",
        "/admin/kpis/kpi/?q=a%00b",
        "/admin/orgs/member/?%00=1",
    ],
)
def test_a_nul_in_an_admin_query_string_is_a_clean_400(company, make_member, client, url):
    """Issue 17 item 11: PostgreSQL refuses a NUL in a query's text (DataError, a 500)."""
    client.force_login(make_member(company, Role.ADMIN, email="boss@acme.example").user)

    response = client.get(url)

    assert response.status_code == 400


def test_a_nul_in_an_api_query_string_is_400_in_the_error_format(company, admin_client):
    response = admin_client.get(ACTIONS + "?kpi=%00")

    assert response.status_code == 400
    assert _codes(response) == [("invalid", "kpi", None)]


# --- 12. Decimals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["-0", "-0.00", "1_000", "٣", "１", "1e2", "+1", " 1.", ".5", "NaN", "Infinity"]
)
def test_a_value_is_digits_with_at_most_two_decimals_and_nothing_else(company, admin_client, value):
    """Issue 17 item 12: ``Decimal()`` reads ``-0``, ``1_000``, ``٣`` and full-width digits as
    numbers; one parser (``kpi_platform.decimals``) takes exactly ``^[0-9]+(\\.[0-9]{1,2})?$``."""
    item = {"kpi": "calls", "user": "ann@acme.example", "value": value}

    response = admin_client.post(ACTIONS, [item], format="json")

    assert response.status_code == 400, response.content[:300]
    assert _codes(response) == [("value_invalid", "value", 0)]
    assert _recorded(company) == 0
