"""The KPI definitions API (API.md "Basics", "Units" and "KPIs"; PRODUCT K1–K10, O2, O4)."""

import datetime
import json
import threading
from types import SimpleNamespace

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from kpi_platform.errors import DomainError
from kpi_platform.tests.api import MISSING, fill, ids, refs_of, send
from kpis import services
from kpis.models import (
    Change,
    Kpi,
    KpiAudience,
    KpiHide,
    KpiName,
    Target,
    TargetPart,
    Unit,
    UnitName,
)
from kpis.selectors import kpi_list_for_department
from kpis.tests.factories import make_active_kpi, make_kpi, make_target, make_unit
from orgs.services import company_update, department_create, team_create
from orgs.tenancy import company_context


class _Message:
    """Equal to any non-empty message: bodies are compared whole, messages are for people."""

    def __eq__(self, other) -> bool:
        return isinstance(other, str) and bool(other.strip())

    def __repr__(self) -> str:
        return "<a message>"


MESSAGE = _Message()


def error_body(*expected: tuple[str, str | None]) -> dict:
    return {
        "errors": [
            {"code": code, "field": field, "message": MESSAGE, "index": None} for code, field in expected
        ]
    }


def assert_refused(response, status_code: int, *expected: tuple[str, str | None]) -> None:
    """The whole body is API.md's error format with exactly these (code, field) pairs."""
    assert response.status_code == status_code, response.content
    assert response.json() == error_body(*expected)


def definitions(company) -> dict:
    """Every row of a company's KPI definitions, to prove a refused request wrote nothing."""
    with company_context(company.id):
        return {
            "units": list(Unit.objects.order_by("id").values()),
            "unit_names": sorted(UnitName.objects.values_list("unit_id", "key")),
            "kpis": list(Kpi.objects.order_by("id").values()),
            "kpi_names": sorted(KpiName.objects.values_list("kpi_id", "key")),
            "audience": list(KpiAudience.objects.order_by("id").values()),
            "hides": list(KpiHide.objects.order_by("id").values()),
            "targets": list(Target.objects.order_by("id").values()),
            "parts": list(TargetPart.objects.order_by("id").values()),
            "changes": Change.objects.count(),
        }


# --- fixtures ------------------------------------------------------------------------------------------


@pytest.fixture
def org(org):
    """The root conftest's Acme (en, ru; Sales with North and South, Support with Care, and their
    people), and a unit "calls" and a KPI "Revenue" / "Выручка" (integration name `revenue`)."""
    with company_context(org.company.id):
        calls = make_unit(name={"en": "calls", "ru": "звонки"})
        revenue = make_kpi(name={"en": "Revenue", "ru": "Выручка"}, integration_name="revenue")
        points = Unit.objects.get(is_default=True)
    return SimpleNamespace(**vars(org), calls=calls, points=points, revenue=revenue)


@pytest.fixture
def globex(other_company, other_admin_member, make_member):
    """Globex (en only): a department, a team, a person, a unit, an Active KPI with a target."""
    with company_context(other_company.id):
        department = department_create(name="Globex Sales")
        team = team_create(name="Globex North", department=department)
    person = make_member(other_company, team=team)
    with company_context(other_company.id):
        unit = make_unit(name={"en": "deals"})
        kpi = make_active_kpi(other_company, name={"en": "Globex deals"}, unit=unit)
        target = make_target(kpi=kpi)
    return SimpleNamespace(
        company=other_company,
        g_department=department,
        g_team=team,
        g_person=person,
        g_admin=other_admin_member,
        g_unit=unit,
        g_kpi=kpi,
        g_target=target,
    )


@pytest.fixture(params=["session", "token"])
def caller(request, org, client_for, token_client):
    """Acme's company admin in a browser, or an Acme token with the read and definitions scopes."""
    if request.param == "session":
        return client_for(org.admin)
    return token_client(org.company, scopes=["read", "definitions"])


def allow_units_to_define_kpis(company) -> None:
    company_update(company=company, units_define_kpis=True)


# --- Units (K3): the shapes and the rules --------------------------------------------------------------


def test_units_read_in_the_documented_shape(org, caller):
    # when the units are listed and one is read
    listed = caller.get("/api/v1/units/")
    one = caller.get(f"/api/v1/units/{org.calls.id}/")
    # then the default "points" comes first, and names are keyed by language
    assert listed.json() == {
        "count": 2,
        "next": None,
        "previous": None,
        "results": [
            {"id": org.points.id, "name": {"en": "points", "ru": "баллы"}, "is_default": True, "decimals": 2},
            {"id": org.calls.id, "name": {"en": "calls", "ru": "звонки"}, "is_default": False, "decimals": 2},
        ],
    }
    calls = {"id": org.calls.id, "name": {"en": "calls", "ru": "звонки"}, "is_default": False, "decimals": 2}
    assert one.json() == calls


def test_a_name_shows_only_the_languages_the_company_enabled_and_filled(globex, token_client):
    # given Globex, with English only, whose "points" is also named in Russian (every platform language)
    client = token_client(globex.company, scopes=["read"])
    # then only the English name is shown, and a language left empty is left out
    assert client.get("/api/v1/units/").json()["results"][0]["name"] == {"en": "points"}
    body = client.get(f"/api/v1/kpis/{globex.g_kpi.id}/").json()
    assert (body["name"], body["description"]) == ({"en": "Globex deals"}, {})


def test_units_are_created_renamed_and_deleted(org, caller):
    # when a unit is created, renamed in one language, and deleted
    created = caller.post("/api/v1/units/", {"name": {"en": "  meetings ", "ru": "встречи"}}, format="json")
    unit_id = created.json()["id"]
    renamed = caller.patch(f"/api/v1/units/{unit_id}/", {"name": {"en": "Meetings"}}, format="json")
    deleted = caller.delete(f"/api/v1/units/{unit_id}/")
    # then each answer shows the stored unit; the name is trimmed and the other language kept
    assert (created.status_code, created.json()) == (
        201,
        {"id": unit_id, "name": {"en": "meetings", "ru": "встречи"}, "is_default": False, "decimals": 2},
    )
    assert (renamed.status_code, renamed.json()["name"]) == (200, {"en": "Meetings", "ru": "встречи"})
    assert deleted.status_code == 204
    assert caller.get(f"/api/v1/units/{unit_id}/").status_code == 404
    # and the history keeps every step (K10)
    with company_context(org.company.id):
        actions = list(
            Change.objects.filter(object_type="unit", object_id=unit_id)
            .order_by("id")
            .values_list("action", flat=True)
        )
    assert actions == ["created", "changed", "deleted"]


def test_a_units_decimals_are_set_checked_and_kept(org, caller):
    """Issue 18: how many decimals figures in a unit show; 0, 1 or 2, else ``invalid``."""
    created = caller.post("/api/v1/units/", {"name": {"en": "visits"}, "decimals": 0}, format="json")
    unit_id = created.json()["id"]
    assert (created.status_code, created.json()["decimals"]) == (201, 0)
    renamed = caller.patch(f"/api/v1/units/{unit_id}/", {"name": {"en": "Visits"}}, format="json")
    assert renamed.json()["decimals"] == 0  # not given: kept
    refused = caller.patch(f"/api/v1/units/{unit_id}/", {"decimals": 3}, format="json")
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["code"] == "invalid"
    assert refused.json()["errors"][0]["field"] == "decimals"
    changed = caller.patch(f"/api/v1/units/{unit_id}/", {"decimals": "1"}, format="json")
    assert changed.json()["decimals"] == 1


UNIT_REFUSALS = [
    # K3: 1 to 18 characters after trimming
    ("post", "/api/v1/units/", {"name": {"en": ""}}, [("name_length", "name.en")]),
    ("post", "/api/v1/units/", {"name": {"en": "   "}}, [("name_length", "name.en")]),
    ("post", "/api/v1/units/", {"name": {"en": "x" * 19}}, [("name_length", "name.en")]),
    ("post", "/api/v1/units/", {"name": {"en": "ok", "ru": "я" * 19}}, [("name_length", "name.ru")]),
    # K3: unique case-insensitively against every name of every other unit, "points" included
    ("post", "/api/v1/units/", {"name": {"en": "CALLS"}}, [("name_taken", "name.en")]),
    ("post", "/api/v1/units/", {"name": {"en": "Звонки"}}, [("name_taken", "name.en")]),
    ("post", "/api/v1/units/", {"name": {"en": "visits", "ru": "Calls"}}, [("name_taken", "name.ru")]),
    ("post", "/api/v1/units/", {"name": {"en": "Points"}}, [("name_taken", "name.en")]),
    ("post", "/api/v1/units/", {"name": {"en": "pts", "ru": "БАЛЛЫ"}}, [("name_taken", "name.ru")]),
    ("patch", "/api/v1/units/{calls}/", {"name": {"ru": "points"}}, [("name_taken", "name.ru")]),
    # the default unit keeps its name and stays
    ("patch", "/api/v1/units/{points}/", {"name": {"en": "pts"}}, [("default_unit", "name")]),
    ("delete", "/api/v1/units/{points}/", None, [("default_unit", None)]),
    # languages the company has not enabled, and the wrong shapes
    ("post", "/api/v1/units/", {"name": {"de": "Anrufe"}}, [("language_invalid", "name.de")]),
    ("post", "/api/v1/units/", {"name": "calls"}, [("invalid", "name")]),
    ("post", "/api/v1/units/", {"name": {"en": 5}}, [("invalid", "name.en")]),
    ("post", "/api/v1/units/", {}, [("required", "name")]),
]


@pytest.mark.parametrize(("method", "path", "body", "expected"), UNIT_REFUSALS)
def test_unit_rules_are_refused_with_their_codes_and_nothing_is_written(
    org, caller, method, path, body, expected
):
    # given Acme's definitions as they are
    before = definitions(org.company)
    # when the request breaks a rule of K3
    response = send(caller, method, fill(path, refs_of(org)), fill(body, refs_of(org)))
    # then the answer names it in API.md's error format, and nothing changed
    assert_refused(response, 400, *expected)
    assert definitions(org.company) == before


def test_a_unit_a_kpi_uses_cannot_be_deleted(org, caller):
    # given a KPI measured in calls
    with company_context(org.company.id):
        make_kpi(unit=org.calls)
    before = definitions(org.company)
    # when the unit is deleted, then it is refused and stays
    assert_refused(caller.delete(f"/api/v1/units/{org.calls.id}/"), 400, ("unit_in_use", None))
    assert definitions(org.company) == before


def test_a_unit_may_not_use_a_language_an_english_only_company_has_not_enabled(globex, token_client):
    client = token_client(globex.company, scopes=["read", "definitions"])
    response = client.post("/api/v1/units/", {"name": {"en": "visits", "ru": "визиты"}}, format="json")
    assert_refused(response, 400, ("language_invalid", "name.ru"))


# --- KPIs: defaults, shape, changes --------------------------------------------------------------------


def _kpi_body(kpi_id: int, **fields) -> dict:
    return {
        "id": kpi_id,
        "name": {},
        "description": {},
        "integration_name": "",
        "unit": None,
        "kind": "primary",
        "status": "hidden",
        "in_rating": False,
        "rating_units": "1.00",
        "rating_points": 1,
        "level": "company",
        "department": None,
        "team": None,
        "direction": "higher_is_better",
        "aggregation": "sum",  # K11's defaults: summed, not calculated, green from 100 %, amber from 80 %
        "formula": None,
        "thresholds": {"green": "100.00", "amber": "80.00"},
        "owner": None,
        "audience": {"departments": [], "teams": [], "users": []},
        "category": None,
        "timing": None,
        "measure": None,
        "perspective": None,
        "archived": False,
        "missing": [],
    } | fields


def test_a_new_kpi_gets_the_documented_defaults_and_shape(org, caller):
    # when a KPI is created with only its name and integration name
    response = caller.post(
        "/api/v1/kpis/",
        {"name": {"en": "Signed contracts"}, "integration_name": "signed_contracts"},
        format="json",
    )
    # then it has API.md's defaults (points, primary, hidden, 1 = 1, company level, higher is better)
    # and says that the Russian name keeps it from being made Active (K5)
    assert response.status_code == 201, response.content
    kpi_id = response.json()["id"]
    assert response.json() == _kpi_body(
        kpi_id,
        name={"en": "Signed contracts"},
        integration_name="signed_contracts",
        unit=org.points.id,
        missing=[{"code": "incomplete", "field": "name.ru", "message": MESSAGE}],
    )
    assert caller.get(f"/api/v1/kpis/{kpi_id}/").json() == response.json()


def test_a_kpi_is_created_with_every_field(org, caller):
    # when a department KPI is created with every field, for an audience within Sales (K8)
    body = {
        "name": {"en": "Calls made", "ru": "Звонки"},
        "description": {
            "en": "See [guide](https://example.com/g)",
            "ru": f"См. [KPI](internal:kpis/{org.revenue.id})",
        },
        "integration_name": "calls_made",
        "unit": org.calls.id,
        "kind": "secondary",
        "status": "active",
        "in_rating": True,
        "rating_units": "2.50",
        "rating_points": "3",
        "level": "department",
        "department": org.sales.id,
        "direction": "lower_is_better",
        "owner": org.manager.id,
        "audience": {"teams": [org.north.id], "users": [org.seller.id, org.seller.id]},
        "category": "operational",
        "timing": "leading",
        "measure": "quantitative",
        "perspective": "customer",
    }
    response = caller.post("/api/v1/kpis/", body, format="json")
    # then the answer shows it as stored: the ratio as a decimal string, users without repeats
    assert response.status_code == 201, response.content
    assert response.json() == _kpi_body(
        response.json()["id"],
        **body
        | {
            "rating_units": "2.50",
            "rating_points": 3,
            "team": None,
            "audience": {"departments": [], "teams": [org.north.id], "users": [org.seller.id]},
        },
    )


def test_a_kpi_changes_merge_languages_and_replace_the_audience(org, caller):
    # given a team KPI of North for `member`
    created = caller.post(
        "/api/v1/kpis/",
        {
            "name": {"en": "Demos"},
            "integration_name": "demos",
            "level": "team",
            "team": org.north.id,
            "audience": {"users": [org.member.id]},
        },
        format="json",
    )
    kpi_id = created.json()["id"]
    assert created.json()["department"] == org.sales.id  # a team KPI carries its department
    # when the Russian name is added, it is made active and given to the whole team
    response = caller.patch(
        f"/api/v1/kpis/{kpi_id}/",
        {"name": {"ru": "Демо"}, "status": "active", "audience": {"teams": [org.north.id]}},
        format="json",
    )
    # then the English name stayed and the audience is the team only
    assert response.status_code == 200, response.content
    assert (response.json()["name"], response.json()["status"], response.json()["audience"]) == (
        {"en": "Demos", "ru": "Демо"},
        "active",
        {"departments": [], "teams": [org.north.id], "users": []},
    )
    assert response.json()["missing"] == []


def test_deleting_a_kpi_archives_it(org, caller):
    # when Revenue is deleted
    response = caller.delete(f"/api/v1/kpis/{org.revenue.id}/")
    # then it is kept, archived and hidden, out of the list unless archived ones are asked for
    assert response.status_code == 204
    detail = caller.get(f"/api/v1/kpis/{org.revenue.id}/").json()
    assert (detail["archived"], detail["status"]) == (True, "hidden")
    assert org.revenue.id not in ids(caller.get("/api/v1/kpis/"))
    assert ids(caller.get("/api/v1/kpis/?archived=true")) == {org.revenue.id}
    with company_context(org.company.id):
        assert Kpi.objects.filter(id=org.revenue.id).exists()
    # and an archived KPI cannot be made active again
    assert_refused(
        caller.patch(f"/api/v1/kpis/{org.revenue.id}/", {"status": "active"}, format="json"),
        400,
        ("archived", "status"),
    )


def test_kpis_can_be_filtered(org, caller):
    # given a company KPI (Revenue), a department KPI of Sales and a secondary team KPI of Care
    with company_context(org.company.id):
        sales_kpi = make_kpi(level="department", department=org.sales)
        care_kpi = make_active_kpi(org.company, level="team", team=org.care, kind="secondary")
    # then each filter narrows the list
    assert ids(caller.get("/api/v1/kpis/?level=company")) == {org.revenue.id}
    assert ids(caller.get(f"/api/v1/kpis/?department={org.sales.id}")) == {sales_kpi.id}
    assert ids(caller.get(f"/api/v1/kpis/?department={org.support.id}")) == {care_kpi.id}
    assert ids(caller.get(f"/api/v1/kpis/?team={org.care.id}")) == {care_kpi.id}
    assert ids(caller.get("/api/v1/kpis/?kind=secondary")) == {care_kpi.id}
    assert ids(caller.get("/api/v1/kpis/?status=active")) == {care_kpi.id}
    assert ids(caller.get("/api/v1/kpis/?status=hidden&level=department")) == {sales_kpi.id}
    assert ids(caller.get(f"/api/v1/kpis/?department={MISSING}")) == set()
    assert_refused(caller.get("/api/v1/kpis/?level=galaxy"), 400, ("invalid", "level"))
    assert_refused(caller.get("/api/v1/kpis/?team=abc"), 400, ("invalid", "team"))


# --- KPIs: every rule of API.md, refused with its code -------------------------------------------------

LONG_NAME = "x" * 256

KPI_REFUSALS = [
    # required (K1): the name in the default language and the integration name
    ("post", "/api/v1/kpis/", {}, [("required", "name.en"), ("required", "integration_name")]),
    ("post", "/api/v1/kpis/", {"name": {"ru": "Звонки"}, "integration_name": "c"}, [("required", "name.en")]),
    (
        "post",
        "/api/v1/kpis/",
        {"name": {"en": "Visits"}, "integration_name": "  "},
        [("required", "integration_name")],
    ),
    (
        "post",
        "/api/v1/kpis/",
        {"name": {"en": "X"}, "integration_name": "x", "level": "team"},
        [("required", "team")],
    ),
    # name_length (K1: at most 255 characters)
    (
        "post",
        "/api/v1/kpis/",
        {"name": {"en": LONG_NAME}, "integration_name": "x"},
        [("name_length", "name.en")],
    ),
    (
        "post",
        "/api/v1/kpis/",
        {"name": {"en": "X", "ru": LONG_NAME}, "integration_name": "x"},
        [("name_length", "name.ru")],
    ),
    # name_taken (K2: in any language, in any case)
    (
        "post",
        "/api/v1/kpis/",
        {"name": {"en": "REVENUE"}, "integration_name": "x"},
        [("name_taken", "name.en")],
    ),
    (
        "post",
        "/api/v1/kpis/",
        {"name": {"en": "выручка"}, "integration_name": "x"},
        [("name_taken", "name.en")],
    ),
    (
        "post",
        "/api/v1/kpis/",
        {"name": {"en": "Other", "ru": "revenue"}, "integration_name": "x"},
        [("name_taken", "name.ru")],
    ),
    ("patch", "/api/v1/kpis/{calls_kpi}/", {"name": {"ru": " Revenue "}}, [("name_taken", "name.ru")]),
    # integration names: unique case-insensitively, letters, digits and _
    (
        "post",
        "/api/v1/kpis/",
        {"name": {"en": "X"}, "integration_name": "REVENUE"},
        [("integration_name_taken", "integration_name")],
    ),
    (
        "patch",
        "/api/v1/kpis/{calls_kpi}/",
        {"integration_name": "Revenue"},
        [("integration_name_taken", "integration_name")],
    ),
    (
        "post",
        "/api/v1/kpis/",
        {"name": {"en": "X"}, "integration_name": "has space"},
        [("integration_name_invalid", "integration_name")],
    ),
    (
        "post",
        "/api/v1/kpis/",
        {"name": {"en": "X"}, "integration_name": "dash-name"},
        [("integration_name_invalid", "integration_name")],
    ),
    (
        "post",
        "/api/v1/kpis/",
        {"name": {"en": "X"}, "integration_name": "x" * 101},
        [("integration_name_invalid", "integration_name")],
    ),
    (
        "post",
        "/api/v1/kpis/",
        {"name": {"en": "X"}, "integration_name": 5},
        [("integration_name_invalid", "integration_name")],
    ),
    # K4: N > 0 with at most two decimals, M a positive integer
    *[
        (
            "patch",
            "/api/v1/kpis/{calls_kpi}/",
            {"rating_units": value},
            [("rating_units_invalid", "rating_units")],
        )
        for value in ["0", 0, "-1", -1, "1.005", "abc", None, True]
    ],
    *[
        (
            "patch",
            "/api/v1/kpis/{calls_kpi}/",
            {"rating_points": value},
            [("rating_points_invalid", "rating_points")],
        )
        for value in [0, 1.5, "1.5", "x", -2, None]
    ],
    # K5: Active only when complete in every enabled language (Acme has en and ru)
    (
        "post",
        "/api/v1/kpis/",
        {"name": {"en": "Visits"}, "integration_name": "visits", "status": "active"},
        [("incomplete", "name.ru")],
    ),
    ("patch", "/api/v1/kpis/{calls_kpi}/", {"status": "active"}, [("incomplete", "name.ru")]),
    (
        "patch",
        "/api/v1/kpis/{calls_kpi}/",
        {"name": {"ru": "Звонки"}, "description": {"en": "Outbound"}, "status": "active"},
        [("incomplete", "description.ru")],
    ),
    # K7: only http(s) links, and internal links to KPIs of the company
    (
        "patch",
        "/api/v1/kpis/{calls_kpi}/",
        {"description": {"en": "[x](javascript:alert(1))"}},
        [("link_invalid", "description.en")],
    ),
    (
        "patch",
        "/api/v1/kpis/{calls_kpi}/",
        {"description": {"ru": f"[x](internal:kpis/{MISSING})"}},
        [("link_invalid", "description.ru")],
    ),
    (
        "patch",
        "/api/v1/kpis/{calls_kpi}/",
        {"description": {"en": "[x](internal:kpis/{g_kpi})"}},
        [("link_invalid", "description.en")],
    ),
    # languages the company has not enabled
    (
        "post",
        "/api/v1/kpis/",
        {"name": {"en": "X", "de": "Y"}, "integration_name": "x"},
        [("language_invalid", "name.de")],
    ),
    (
        "patch",
        "/api/v1/kpis/{calls_kpi}/",
        {"description": {"de": "Anrufe"}},
        [("language_invalid", "description.de")],
    ),
    # the wrong shapes and unknown ids
    ("post", "/api/v1/kpis/", {"name": "Calls", "integration_name": "x"}, [("invalid", "name")]),
    ("patch", "/api/v1/kpis/{calls_kpi}/", {"kind": "main"}, [("invalid", "kind")]),
    ("patch", "/api/v1/kpis/{calls_kpi}/", {"in_rating": "perhaps"}, [("invalid", "in_rating")]),
    ("patch", "/api/v1/kpis/{calls_kpi}/", {"unit": "abc"}, [("invalid", "unit")]),
    ("patch", "/api/v1/kpis/{calls_kpi}/", {"unit": MISSING}, [("not_found", "unit")]),
    (
        "patch",
        "/api/v1/kpis/{calls_kpi}/",
        {"audience": {"users": ["{member}", MISSING]}},
        [("not_found", "audience.users.1")],
    ),
    (
        "patch",
        "/api/v1/kpis/{calls_kpi}/",
        {"level": "department", "department": "{sales}", "team": "{care}"},
        [("level_invalid", "team"), ("level_invalid", "team")],
    ),
    (
        "patch",
        "/api/v1/kpis/{calls_kpi}/",
        {"level": "team", "team": "{north}", "audience": {"teams": ["{care}"]}},
        [("audience_invalid", "audience.teams")],
    ),
    ("get", f"/api/v1/kpis/{MISSING}/", None, None),
    ("patch", "/api/v1/kpis/abc/", {"kind": "secondary"}, None),
]


@pytest.mark.parametrize(("method", "path", "body", "expected"), KPI_REFUSALS)
def test_kpi_rules_are_refused_with_their_codes_and_nothing_is_written(
    org, globex, caller, method, path, body, expected
):
    # given an English-only KPI "Calls" next to Revenue / Выручка, and Globex's KPI
    with company_context(org.company.id):
        calls_kpi = make_kpi(name={"en": "Calls"}, integration_name="calls")
    refs = refs_of(org, globex) | {"calls_kpi": calls_kpi.id}
    before = definitions(org.company)
    # when the request breaks a rule
    response = send(caller, method, fill(path, refs), fill(body, refs))
    # then the answer names it in API.md's error format, and nothing changed
    if expected is None:
        assert_refused(response, 404, ("not_found", None))
    else:
        assert_refused(response, 400, *expected)
    assert definitions(org.company) == before


def test_a_kpi_may_not_use_a_language_an_english_only_company_has_not_enabled(globex, token_client):
    client = token_client(globex.company, scopes=["read", "definitions"])
    response = client.post(
        "/api/v1/kpis/",
        {"name": {"en": "Visits", "ru": "Визиты"}, "integration_name": "visits"},
        format="json",
    )
    assert_refused(response, 400, ("language_invalid", "name.ru"))


def test_every_problem_of_a_request_is_reported_at_once(org, caller):
    response = caller.post(
        "/api/v1/kpis/",
        {"name": {"en": "revenue"}, "integration_name": "a b", "rating_units": "0", "rating_points": 0},
        format="json",
    )
    assert_refused(
        response,
        400,
        ("name_taken", "name.en"),
        ("integration_name_invalid", "integration_name"),
        ("rating_units_invalid", "rating_units"),
        ("rating_points_invalid", "rating_points"),
    )


# --- O2: another company's rows, by session and by token -----------------------------------------------


ISOLATED_REQUESTS = [
    ("get", "/api/v1/units/{g_unit}/", None),
    ("patch", "/api/v1/units/{g_unit}/", {"name": {"en": "mine"}}),
    ("delete", "/api/v1/units/{g_unit}/", None),
    ("get", "/api/v1/kpis/{g_kpi}/", None),
    ("patch", "/api/v1/kpis/{g_kpi}/", {"kind": "secondary"}),
    ("delete", "/api/v1/kpis/{g_kpi}/", None),
    ("post", "/api/v1/kpis/{g_kpi}/hide/", {"department": "{sales}"}),
    ("post", "/api/v1/kpis/{g_kpi}/unhide/", {"department": "{sales}"}),
    ("get", "/api/v1/kpis/{g_kpi}/history/", None),
    ("get", "/api/v1/targets/{g_target}/", None),
    ("patch", "/api/v1/targets/{g_target}/", {"value": "1"}),
    ("delete", "/api/v1/targets/{g_target}/", None),
    ("post", "/api/v1/targets/{g_target}/breakdown/", {"into": "week", "method": "even"}),
    ("delete", "/api/v1/targets/{g_target}/breakdown/", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ISOLATED_REQUESTS)
def test_another_companys_definitions_answer_as_if_missing(
    org, globex, caller, assert_isolated, method, path, body
):
    # given Globex's unit, KPI and target as they are
    before = definitions(globex.company)
    # when Acme's admin or token reaches for them
    response = send(caller, method, fill(path, refs_of(org, globex)), fill(body, refs_of(org, globex)))
    # then it is a 404 exactly like an id that does not exist, and Globex's rows are unchanged
    assert_isolated(response)
    assert definitions(globex.company) == before


FOREIGN_IDS = [
    ("post", "/api/v1/kpis/", {"unit": "{g_unit}"}, "unit"),
    ("post", "/api/v1/kpis/", {"level": "department", "department": "{g_department}"}, "department"),
    ("post", "/api/v1/kpis/", {"level": "team", "team": "{g_team}"}, "team"),
    ("post", "/api/v1/kpis/", {"owner": "{g_person}"}, "owner"),
    ("post", "/api/v1/kpis/", {"audience": {"departments": ["{g_department}"]}}, "audience.departments.0"),
    ("post", "/api/v1/kpis/", {"audience": {"teams": ["{north}", "{g_team}"]}}, "audience.teams.1"),
    ("post", "/api/v1/kpis/", {"audience": {"users": ["{g_admin}"]}}, "audience.users.0"),
    ("patch", "/api/v1/kpis/{revenue}/", {"unit": "{g_unit}"}, "unit"),
    ("patch", "/api/v1/kpis/{revenue}/", {"owner": "{g_person}"}, "owner"),
    ("post", "/api/v1/kpis/{revenue}/hide/", {"department": "{g_department}"}, "department"),
    ("post", "/api/v1/kpis/{revenue}/unhide/", {"team": "{g_team}"}, "team"),
    (
        "post",
        "/api/v1/targets/",
        {"kpi": "{g_kpi}", "period": "month", "start": "2026-11-01", "value": "1"},
        "kpi",
    ),
    (
        "post",
        "/api/v1/targets/",
        {
            "kpi": "{revenue}",
            "period": "month",
            "start": "2026-11-01",
            "value": "1",
            "scope": "user",
            "user": "{g_person}",
        },
        "user",
    ),
    (
        "post",
        "/api/v1/targets/",
        {
            "kpi": "{revenue}",
            "period": "month",
            "start": "2026-11-01",
            "value": "1",
            "scope": "team",
            "team": "{g_team}",
        },
        "team",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), FOREIGN_IDS)
def test_another_companys_ids_are_not_found_on_write(org, globex, caller, method, path, body, field):
    # given both companies' definitions as they are
    base = {"name": {"en": "New"}, "integration_name": "new"} if path == "/api/v1/kpis/" else {}
    acme, theirs = definitions(org.company), definitions(globex.company)
    # when one of Globex's ids is sent
    response = send(caller, method, fill(path, refs_of(org, globex)), base | fill(body, refs_of(org, globex)))
    # then it is not found, as an id that does not exist, and nothing changed on either side
    assert_refused(response, 400, ("not_found", field))
    assert (definitions(org.company), definitions(globex.company)) == (acme, theirs)


def test_lists_show_only_the_callers_company(org, globex, caller):
    # given a target in each company
    with company_context(org.company.id):
        target = make_target(kpi=org.revenue)
    # then Acme's lists hold Acme's rows only
    assert ids(caller.get("/api/v1/units/")) == {org.points.id, org.calls.id}
    assert ids(caller.get("/api/v1/kpis/")) == {org.revenue.id}
    assert ids(caller.get("/api/v1/kpis/?archived=true")) == set()
    assert ids(caller.get("/api/v1/targets/")) == {target.id}
    assert ids(caller.get(f"/api/v1/targets/?kpi={globex.g_kpi.id}")) == set()
    history = caller.get(f"/api/v1/kpis/{org.revenue.id}/history/").json()["results"]
    assert {entry["object_id"] for entry in history} == {org.revenue.id, target.id}


# --- I2: token scopes ----------------------------------------------------------------------------------

WRITES = [
    ("post", "/api/v1/units/", {"name": {"en": "visits"}}),
    ("patch", "/api/v1/units/{calls}/", {"name": {"en": "rings"}}),
    ("delete", "/api/v1/units/{calls}/", None),
    ("post", "/api/v1/kpis/", {"name": {"en": "New"}, "integration_name": "new"}),
    ("patch", "/api/v1/kpis/{revenue}/", {"kind": "secondary"}),
    ("delete", "/api/v1/kpis/{revenue}/", None),
    ("post", "/api/v1/kpis/{revenue}/hide/", {"department": "{sales}"}),
    ("post", "/api/v1/kpis/{revenue}/unhide/", {"department": "{sales}"}),
    (
        "post",
        "/api/v1/targets/",
        {"kpi": "{revenue}", "period": "month", "start": "2026-12-01", "value": "1"},
    ),
    ("patch", "/api/v1/targets/{target}/", {"value": "5"}),
    ("delete", "/api/v1/targets/{target}/", None),
    ("post", "/api/v1/targets/{target}/breakdown/", {"into": "week", "method": "even"}),
    ("delete", "/api/v1/targets/{target}/breakdown/", None),
]
READS = [
    "/api/v1/units/",
    "/api/v1/units/{calls}/",
    "/api/v1/kpis/",
    "/api/v1/kpis/{revenue}/",
    "/api/v1/kpis/{revenue}/history/",
    "/api/v1/targets/",
    "/api/v1/targets/{target}/",
]


@pytest.fixture
def target(org):
    with company_context(org.company.id):
        return make_target(kpi=org.revenue)


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
@pytest.mark.parametrize("scopes", [["read"], ["read", "actions", "org"]])
def test_a_token_without_the_definitions_scope_reads_but_cannot_write(
    org, target, token_client, method, path, body, scopes
):
    # given a token without "definitions"
    client = token_client(org.company, scopes=scopes)
    refs = refs_of(org) | {"target": target.id}
    before = definitions(org.company)
    # when it writes, then it is refused and nothing changes; reading works
    assert_refused(send(client, method, fill(path, refs), fill(body, refs)), 403, ("permission_denied", None))
    assert definitions(org.company) == before
    for read in READS:
        assert client.get(fill(read, refs)).status_code == 200


def test_a_token_without_the_read_scope_cannot_read(org, target, token_client):
    client = token_client(org.company, scopes=["definitions"])
    refs = refs_of(org) | {"target": target.id}
    for read in READS:
        assert_refused(client.get(fill(read, refs)), 403, ("permission_denied", None))
    assert client.post("/api/v1/units/", {"name": {"en": "visits"}}, format="json").status_code == 201


@pytest.mark.parametrize(("method", "path", "body"), WRITES + [("get", path, None) for path in READS])
def test_no_credentials_is_unauthenticated(org, target, method, path, body):
    refs = refs_of(org) | {"target": target.id}
    response = send(APIClient(), method, fill(path, refs), fill(body, refs))
    assert_refused(response, 401, ("not_authenticated", None))
    assert response["WWW-Authenticate"] == "Bearer"


# --- O4, K6: roles -------------------------------------------------------------------------------------


def test_a_member_cannot_define_kpis(org, client_for):
    # given a member of North, in a company that lets units define KPIs
    allow_units_to_define_kpis(org.company)
    with company_context(org.company.id):
        services.kpi_update(kpi=org.revenue, name={"ru": "Выручка"}, status="active")
    client = client_for(org.member)
    before = definitions(org.company)
    # when they try to create KPIs at any level, or change, archive or hide one they see
    responses = [
        client.post("/api/v1/kpis/", {"name": {"en": "A"}, "integration_name": "a"}, format="json"),
        client.post(
            "/api/v1/kpis/",
            {"name": {"en": "B"}, "integration_name": "b", "level": "team", "team": org.north.id},
            format="json",
        ),
        client.patch(f"/api/v1/kpis/{org.revenue.id}/", {"kind": "secondary"}, format="json"),
        client.delete(f"/api/v1/kpis/{org.revenue.id}/"),
        client.post(f"/api/v1/kpis/{org.revenue.id}/hide/", {"team": org.north.id}, format="json"),
        client.post("/api/v1/units/", {"name": {"en": "visits"}}, format="json"),
    ]
    # then every one is refused
    for response in responses:
        assert_refused(response, 403, ("permission_denied", None))
    assert definitions(org.company) == before


def test_a_manager_defines_kpis_for_their_department_only_when_the_company_allows(org, client_for):
    client = client_for(org.manager)
    department_kpi = {
        "name": {"en": "Sales calls"},
        "integration_name": "sales_calls",
        "level": "department",
        "department": org.sales.id,
    }
    # when units may not define KPIs, then the manager may not either
    assert_refused(
        client.post("/api/v1/kpis/", department_kpi, format="json"), 403, ("permission_denied", None)
    )
    # when they may
    allow_units_to_define_kpis(org.company)
    created = client.post("/api/v1/kpis/", department_kpi, format="json")
    team_kpi = client.post(
        "/api/v1/kpis/",
        {
            "name": {"en": "South calls"},
            "integration_name": "south_calls",
            "level": "team",
            "team": org.south.id,
        },
        format="json",
    )
    company_kpi = client.post(
        "/api/v1/kpis/", {"name": {"en": "All"}, "integration_name": "all"}, format="json"
    )
    support_kpi = client.post(
        "/api/v1/kpis/",
        {"name": {"en": "S"}, "integration_name": "s", "level": "department", "department": org.support.id},
        format="json",
    )
    # then they define KPIs of Sales and its teams, never company ones, and cannot even name Support
    assert (created.status_code, team_kpi.status_code) == (201, 201)
    assert_refused(company_kpi, 403, ("permission_denied", None))
    assert_refused(support_kpi, 400, ("not_found", "department"))
    # and they change their own KPI, but cannot lift it to the company level
    kpi_id = created.json()["id"]
    assert client.patch(f"/api/v1/kpis/{kpi_id}/", {"kind": "secondary"}, format="json").status_code == 200
    assert_refused(
        client.patch(f"/api/v1/kpis/{kpi_id}/", {"level": "company", "department": None}, format="json"),
        403,
        ("permission_denied", None),
    )
    # nor change a company KPI they see
    with company_context(org.company.id):
        services.kpi_update(kpi=org.revenue, name={"ru": "Выручка"}, status="active")
    assert_refused(
        client.patch(f"/api/v1/kpis/{org.revenue.id}/", {"kind": "secondary"}, format="json"),
        403,
        ("permission_denied", None),
    )


def test_a_manager_hides_a_company_kpi_for_their_department(org, client_for):
    # given an Active company KPI, and a company that lets units define KPIs
    allow_units_to_define_kpis(org.company)
    with company_context(org.company.id):
        services.kpi_update(kpi=org.revenue, name={"ru": "Выручка"}, status="active")
    client = client_for(org.manager)
    # when the manager hides it for Sales, then it is hidden there
    response = client.post(
        f"/api/v1/kpis/{org.revenue.id}/hide/", {"department": org.sales.id}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["id"] == org.revenue.id
    with company_context(org.company.id):
        assert KpiHide.objects.filter(kpi=org.revenue, department=org.sales).exists()


def test_a_team_lead_defines_and_hides_kpis_for_their_team_only(org, client_for):
    allow_units_to_define_kpis(org.company)
    with company_context(org.company.id):
        services.kpi_update(kpi=org.revenue, name={"ru": "Выручка"}, status="active")
    client = client_for(org.lead)
    # when the lead of North defines KPIs
    own = client.post(
        "/api/v1/kpis/",
        {
            "name": {"en": "North demos"},
            "integration_name": "north_demos",
            "level": "team",
            "team": org.north.id,
        },
        format="json",
    )
    department = client.post(
        "/api/v1/kpis/",
        {"name": {"en": "D"}, "integration_name": "d", "level": "department", "department": org.sales.id},
        format="json",
    )
    south = client.post(
        "/api/v1/kpis/",
        {"name": {"en": "S"}, "integration_name": "s", "level": "team", "team": org.south.id},
        format="json",
    )
    # then only their team's is theirs to define; South is not even theirs to see
    assert own.status_code == 201
    assert_refused(department, 403, ("permission_denied", None))
    assert_refused(south, 400, ("not_found", "team"))
    # and they hide the company KPI for North, not for Sales
    hidden = client.post(f"/api/v1/kpis/{org.revenue.id}/hide/", {"team": org.north.id}, format="json")
    assert hidden.status_code == 200
    assert_refused(
        client.post(f"/api/v1/kpis/{org.revenue.id}/hide/", {"department": org.sales.id}, format="json"),
        403,
        ("permission_denied", None),
    )


def test_a_member_sees_only_the_active_kpis_that_reach_them(org, client_for):
    # given KPIs at every level, some hidden, some for someone else
    with company_context(org.company.id):
        services.kpi_update(kpi=org.revenue, name={"ru": "Выручка"}, status="active")
        hidden = make_kpi()
        north = make_active_kpi(org.company, level="team", team=org.north)
        sales = make_active_kpi(org.company, level="department", department=org.sales)
        care = make_active_kpi(org.company, level="team", team=org.care)
        for_seller = make_active_kpi(org.company, audience=services.Audience(members=[org.seller]))
        for_member = make_active_kpi(org.company, audience=services.Audience(members=[org.member]))
        south_hidden = make_active_kpi(org.company, level="department", department=org.sales)
        services.kpi_hide(kpi=south_hidden, team=org.north)
    client = client_for(org.member)
    # then the member sees what reaches them (K6, K8) and is Active (K5); nothing else exists for them
    assert ids(client.get("/api/v1/kpis/")) == {org.revenue.id, north.id, sales.id, for_member.id}
    for other in (hidden, care, for_seller, south_hidden):
        assert client.get(f"/api/v1/kpis/{other.id}/").status_code == 404
    assert client.get(f"/api/v1/kpis/{north.id}/").status_code == 200


def test_everyone_in_the_company_reads_the_units(org, client_for):
    assert ids(client_for(org.member).get("/api/v1/units/")) == {org.points.id, org.calls.id}


# --- K6: hiding inherited KPIs -------------------------------------------------------------------------


def test_hiding_a_company_kpi_for_a_department_takes_it_from_its_people(org, caller, client_for):
    # given an Active company KPI that `member` (North, in Sales) sees
    with company_context(org.company.id):
        services.kpi_update(kpi=org.revenue, name={"ru": "Выручка"}, status="active")
    member = client_for(org.member)
    assert org.revenue.id in ids(member.get("/api/v1/kpis/"))
    # when it is hidden for Sales
    response = caller.post(
        f"/api/v1/kpis/{org.revenue.id}/hide/", {"department": org.sales.id}, format="json"
    )
    # then Sales and its people no longer get it; Support still does
    assert response.status_code == 200
    with company_context(org.company.id):
        assert org.revenue not in kpi_list_for_department(org.sales)
        assert org.revenue in kpi_list_for_department(org.support)
    assert org.revenue.id not in ids(member.get("/api/v1/kpis/"))
    # when it is shown again, then they get it back
    assert (
        caller.post(
            f"/api/v1/kpis/{org.revenue.id}/unhide/", {"department": org.sales.id}, format="json"
        ).status_code
        == 200
    )
    assert org.revenue.id in ids(member.get("/api/v1/kpis/"))
    with company_context(org.company.id):
        actions = list(Change.objects.filter(kpi=org.revenue).order_by("id").values_list("action", flat=True))
    assert actions[-2:] == ["hidden", "unhidden"]


def test_only_an_inherited_kpi_can_be_hidden(org, caller):
    # given a KPI of North itself
    with company_context(org.company.id):
        north = make_kpi(level="team", team=org.north)
    before = definitions(org.company)
    # then North cannot hide it, and one unit must be named
    assert_refused(
        caller.post(f"/api/v1/kpis/{north.id}/hide/", {"team": org.north.id}, format="json"),
        400,
        ("not_inherited", "team"),
    )
    assert_refused(
        caller.post(f"/api/v1/kpis/{north.id}/hide/", {}, format="json"), 400, ("required", "department")
    )
    assert_refused(
        caller.post(f"/api/v1/kpis/{north.id}/hide/", {"department": MISSING}, format="json"),
        400,
        ("not_found", "department"),
    )
    assert definitions(org.company) == before


# --- K9: targets ---------------------------------------------------------------------------------------


def test_targets_are_created_listed_changed_and_deleted(org, caller):
    # when a target is set for the company and one for a person of a Sales KPI
    with company_context(org.company.id):
        sales = make_kpi(level="department", department=org.sales)
    company_target = caller.post(
        "/api/v1/targets/",
        {"kpi": org.revenue.id, "period": "quarter", "start": "2026-10-01", "value": "120"},
        format="json",
    )
    person_target = caller.post(
        "/api/v1/targets/",
        {
            "kpi": sales.id,
            "period": "month",
            "start": "2026-11-01",
            "value": 7.5,
            "scope": "user",
            "user": org.seller.id,
        },
        format="json",
    )
    # then both are stored in the documented shape
    assert company_target.status_code == 201, company_target.content
    assert company_target.json() == {
        "id": company_target.json()["id"],
        "kpi": org.revenue.id,
        "period": "quarter",
        "start": "2026-10-01",
        "scope": "company",
        "department": None,
        "team": None,
        "user": None,
        "value": "120.00",
        "breakdown": None,
    }
    assert (person_target.status_code, person_target.json()["user"], person_target.json()["value"]) == (
        201,
        org.seller.id,
        "7.50",
    )
    # and they can be listed, filtered, changed and deleted
    first, second = company_target.json()["id"], person_target.json()["id"]
    assert ids(caller.get("/api/v1/targets/")) == {first, second}
    assert ids(caller.get(f"/api/v1/targets/?kpi={sales.id}")) == {second}
    assert ids(caller.get("/api/v1/targets/?scope=company&period=quarter&start=2026-10-01")) == {first}
    assert ids(caller.get("/api/v1/targets/?start=2026-01-01")) == set()
    changed = caller.patch(f"/api/v1/targets/{first}/", {"value": "150.5"}, format="json")
    assert (changed.status_code, changed.json()["value"]) == (200, "150.50")
    assert caller.delete(f"/api/v1/targets/{second}/").status_code == 204
    assert ids(caller.get("/api/v1/targets/")) == {first}
    # and the KPI's history tells it all (K10)
    history = caller.get(f"/api/v1/kpis/{org.revenue.id}/history/").json()["results"]
    assert [(entry["object_type"], entry["action"]) for entry in history[:2]] == [
        ("target", "changed"),
        ("target", "created"),
    ]


TARGET = {"kpi": "{revenue}", "period": "month", "start": "2026-11-01", "value": "100"}
TARGET_REFUSALS = [
    (TARGET | {"start": "2026-11-02"}, [("start_invalid", "start")]),
    (TARGET | {"period": "quarter", "start": "2026-11-01"}, [("start_invalid", "start")]),
    (TARGET | {"start": "1st of November"}, [("invalid", "start")]),
    (TARGET | {"value": "-1"}, [("value_invalid", "value")]),
    (TARGET | {"value": "1.005"}, [("value_invalid", "value")]),
    (TARGET | {"value": "lots"}, [("value_invalid", "value")]),
    (TARGET | {"scope": "team"}, [("required", "team")]),
    (TARGET | {"scope": "company", "team": "{north}"}, [("scope_invalid", "team")]),
    (TARGET | {"kpi": "{north_kpi}", "scope": "team", "team": "{south}"}, [("scope_invalid", "team")]),
    (TARGET | {"kpi": "{north_kpi}", "scope": "user", "user": "{seller}"}, [("scope_invalid", "user")]),
    (TARGET | {"scope": "planet"}, [("invalid", "scope")]),
    (TARGET | {"period": "week"}, [("invalid", "period")]),
    (TARGET | {"start": "2026-10-01", "value": "5"}, [("target_exists", "start")]),
    ({}, [("required", "kpi"), ("required", "period"), ("required", "start"), ("required", "value")]),
    (TARGET | {"kpi": MISSING}, [("not_found", "kpi")]),
]


@pytest.mark.parametrize(("body", "expected"), TARGET_REFUSALS)
def test_target_rules_are_refused_with_their_codes_and_nothing_is_written(org, caller, body, expected):
    # given a team KPI of North and a target of Revenue for October
    with company_context(org.company.id):
        north_kpi = make_kpi(level="team", team=org.north)
        make_target(kpi=org.revenue, start=datetime.date(2026, 10, 1))
    refs = refs_of(org) | {"north_kpi": north_kpi.id}
    before = definitions(org.company)
    assert_refused(caller.post("/api/v1/targets/", fill(body, refs), format="json"), 400, *expected)
    assert definitions(org.company) == before


@pytest.mark.parametrize("start", ["9999-01-01", "3000-01-01", "1970-01-01", "0001-01-01"])
def test_a_target_beyond_the_supported_years_is_refused(org, caller, start):
    """issue 17: a target starting 9999-01-01 was saved, and its breakdown ran past the calendar's
    end (500). Targets start from 1971-01-01 to 2999-12-31, as every date the platform takes."""
    before = definitions(org.company)
    body = fill(TARGET | {"period": "year", "start": start}, refs_of(org))
    assert_refused(caller.post("/api/v1/targets/", body, format="json"), 400, ("start_invalid", "start"))
    assert definitions(org.company) == before


def test_a_target_of_the_last_supported_year_breaks_down_to_its_last_day(org, caller):
    """issue 17: the last supported year is whole, its breakdown included."""
    body = fill(TARGET | {"period": "year", "start": "2999-01-01"}, refs_of(org))
    created = caller.post("/api/v1/targets/", body, format="json")
    assert created.status_code == 201, created.content
    path = f"/api/v1/targets/{created.json()['id']}/breakdown/"
    even = caller.post(path, {"into": "week", "method": "even"}, format="json")
    assert even.status_code == 200, even.content
    assert even.json()["breakdown"]["parts"][-1]["end"] == "2999-12-31"


def test_a_target_breaks_down_evenly_by_days_and_by_hand(org, caller, target):
    # given a November target of 100 (30 days: Sun 1, then ISO weeks cut at the month's ends)
    path = f"/api/v1/targets/{target.id}/breakdown/"
    # when broken down evenly into weeks
    even = caller.post(path, {"into": "week", "method": "even"}, format="json")
    # then six parts add up to it
    assert even.status_code == 200, even.content
    breakdown = even.json()["breakdown"]
    assert (breakdown["into"], breakdown["method"]) == ("week", "even")
    assert [part["start"] for part in breakdown["parts"]][:2] == ["2026-11-01", "2026-11-02"]
    assert [part["end"] for part in breakdown["parts"]][-1] == "2026-11-30"
    assert [part["value"] for part in breakdown["parts"]] == [
        "16.67",
        "16.66",
        "16.67",
        "16.67",
        "16.66",
        "16.67",
    ]
    # when broken down by days: 1, 7, 7, 7, 7 and 1 days
    days = caller.post(path, {"into": "week", "method": "days"}, format="json").json()["breakdown"]
    assert [part["value"] for part in days["parts"]] == ["3.33", "23.34", "23.33", "23.33", "23.34", "3.33"]
    # when broken down by hand with a new total
    manual = caller.post(
        path,
        {"into": "week", "method": "manual", "values": [0, "10", "10", "10", "10", 0], "value": "40"},
        format="json",
    )
    assert (manual.status_code, manual.json()["value"]) == (200, "40.00")
    assert [part["value"] for part in manual.json()["breakdown"]["parts"]] == [
        "0.00",
        "10.00",
        "10.00",
        "10.00",
        "10.00",
        "0.00",
    ]
    # then a new value alone no longer adds up with the parts given by hand
    before = definitions(org.company)
    assert_refused(
        caller.patch(f"/api/v1/targets/{target.id}/", {"value": "50"}, format="json"),
        400,
        ("breakdown_mismatch", "value"),
    )
    assert definitions(org.company) == before
    # when the breakdown is removed, then the target has none and takes any value
    cleared = caller.delete(path)
    assert (cleared.status_code, cleared.json()["breakdown"]) == (200, None)
    assert (
        caller.patch(f"/api/v1/targets/{target.id}/", {"value": "50"}, format="json").json()["value"]
        == "50.00"
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"into": "week", "method": "manual", "values": ["10", "10"]}, [("breakdown_mismatch", "values")]),
        ({"into": "week", "method": "manual", "values": ["20"] * 6}, [("breakdown_mismatch", "values")]),
        ({"into": "week", "method": "manual", "values": ["x"] * 6}, [("breakdown_mismatch", "values")]),
        ({"into": "week", "method": "manual"}, [("breakdown_mismatch", "values")]),
        ({"into": "month", "method": "even"}, [("breakdown_invalid", "into")]),
        ({"into": "week", "method": "even", "value": "-5"}, [("value_invalid", "value")]),
        ({"into": "day", "method": "even"}, [("invalid", "into")]),
        ({"into": "week"}, [("required", "method")]),
    ],
)
def test_a_breakdown_must_fit_the_target(org, caller, target, body, expected):
    before = definitions(org.company)
    assert_refused(
        caller.post(f"/api/v1/targets/{target.id}/breakdown/", body, format="json"), 400, *expected
    )
    assert definitions(org.company) == before


def test_a_manager_sets_targets_within_their_department_only(org, client_for):
    # given a Sales KPI, a company that lets units define KPIs, and Sales' manager
    allow_units_to_define_kpis(org.company)
    with company_context(org.company.id):
        sales = make_active_kpi(org.company, level="department", department=org.sales)
        services.kpi_update(kpi=org.revenue, name={"ru": "Выручка"}, status="active")
        company_target = make_target(kpi=org.revenue)
    client = client_for(org.manager)
    # then they set one for their department and a person in it, never for the company
    mine = client.post(
        "/api/v1/targets/",
        {
            "kpi": sales.id,
            "period": "month",
            "start": "2026-11-01",
            "value": "5",
            "scope": "department",
            "department": org.sales.id,
        },
        format="json",
    )
    assert mine.status_code == 201, mine.content
    assert_refused(
        client.post(
            "/api/v1/targets/",
            {"kpi": org.revenue.id, "period": "year", "start": "2026-01-01", "value": "5"},
            format="json",
        ),
        403,
        ("permission_denied", None),
    )
    assert_refused(
        client.patch(f"/api/v1/targets/{company_target.id}/", {"value": "1"}, format="json"),
        403,
        ("permission_denied", None),
    )
    # and a member sees the targets of the KPIs they see, and changes none
    member = client_for(org.member)
    assert ids(member.get("/api/v1/targets/")) == {mine.json()["id"], company_target.id}
    assert_refused(member.delete(f"/api/v1/targets/{company_target.id}/"), 403, ("permission_denied", None))


# --- K10: history --------------------------------------------------------------------------------------


def test_the_history_names_who_changed_what(org, client_for, token_client):
    # given a KPI created by the admin in a browser, then changed by a token
    admin = client_for(org.admin)
    token = token_client(org.company, scopes=["read", "definitions"])
    kpi_id = admin.post(
        "/api/v1/kpis/", {"name": {"en": "Leads"}, "integration_name": "leads"}, format="json"
    ).json()["id"]
    token.patch(f"/api/v1/kpis/{kpi_id}/", {"in_rating": True, "rating_units": "2"}, format="json")
    # when its history is read
    response = token.get(f"/api/v1/kpis/{kpi_id}/history/")
    # then it lists both, newest first, with the actor
    assert response.status_code == 200
    changed, created = response.json()["results"]
    assert changed == {
        "at": changed["at"],
        "actor": None,
        "actor_label": "API token “test”",
        "object_type": "kpi",
        "object_id": kpi_id,
        "object": "Leads",
        "action": "changed",
        "changes": {"in_rating": [False, True], "rating_units": ["1.00", "2.00"]},
    }
    assert (created["actor"], created["actor_label"], created["action"]) == (
        org.admin.id,
        str(org.admin),
        "created",
    )
    assert datetime.datetime.fromisoformat(changed["at"]) >= datetime.datetime.fromisoformat(created["at"])


def test_the_endpoints_are_in_the_openapi_schema(db, client):
    schema = client.get("/api/schema/").content.decode()
    for path in (
        "/api/v1/units/{unit_id}/",
        "/api/v1/kpis/{kpi_id}/hide/",
        "/api/v1/kpis/{kpi_id}/history/",
        "/api/v1/targets/{target_id}/breakdown/",
    ):
        assert f"{path}:" in schema
    assert "Archives the KPI" in schema


# --- query counts --------------------------------------------------------------------------------------


def _grow_kpis(org, extra: int) -> None:
    """`extra` more KPIs, each with an audience entry and a hide, and a target with a breakdown."""
    with company_context(org.company.id):
        for _n in range(extra):
            kpi = make_kpi(audience=services.Audience(teams=[org.north], members=[org.seller]))
            services.kpi_hide(kpi=kpi, department=org.support)
            target = make_target(kpi=kpi)
            services.target_break_down(target=target, into="week", method="even")


# A token: the token, SAVEPOINT (ATOMIC_REQUESTS inside the test's transaction), the company (its
# languages), COUNT, the page, one prefetch of the audience, RELEASE SAVEPOINT.
# Session: session, user and the viewer's Member instead of the token.
# Targets: no company (nothing localized), one prefetch of the parts instead of the audience.
_LIST_QUERIES = {
    ("token", "kpis"): 7,
    ("token", "targets"): 6,
    ("session", "kpis"): 9,
    ("session", "targets"): 8,
}


@pytest.mark.parametrize("kind", ["kpis", "targets"])
@pytest.mark.parametrize("who", ["session", "token"])
def test_list_endpoints_have_constant_query_counts(
    org, client_for, token_client, django_assert_num_queries, who, kind
):
    # given one KPI with a target, read by the admin or a token (its last use already recorded)
    client = client_for(org.admin) if who == "session" else token_client(org.company, scopes=["read"])
    with company_context(org.company.id):
        make_target(kpi=org.revenue)
    client.get(f"/api/v1/{kind}/")
    with django_assert_num_queries(_LIST_QUERIES[who, kind]):
        one = client.get(f"/api/v1/{kind}/")
    assert one.json()["count"] == 1
    # when there are twenty more, each with its audience, hides and a broken-down target
    _grow_kpis(org, 20)
    # then the same number of queries reads them all
    with django_assert_num_queries(_LIST_QUERIES[who, kind]):
        many = client.get(f"/api/v1/{kind}/")
    assert many.json()["count"] == 21
    assert len(many.json()["results"]) == 21


def test_a_members_kpi_list_has_a_constant_query_count(org, client_for, django_assert_num_queries):
    # given a member, whose visibility takes their team and the company's setting
    client = client_for(org.member)
    with company_context(org.company.id):
        services.kpi_update(kpi=org.revenue, name={"ru": "Выручка"}, status="active")
    client.get("/api/v1/kpis/")
    # session, user, SAVEPOINT, Member, managed departments, led teams, COUNT, page, audience,
    # company, RELEASE SAVEPOINT
    with django_assert_num_queries(11):
        assert client.get("/api/v1/kpis/").json()["count"] == 1
    with company_context(org.company.id):
        for _n in range(20):
            make_active_kpi(org.company, audience=services.Audience(members=[org.member]))
    with django_assert_num_queries(11):
        assert client.get("/api/v1/kpis/").json()["count"] == 21


# --- races on PostgreSQL (K2, K3) ----------------------------------------------------------------------


def _race(clients: list[APIClient], path: str, bodies: list[dict]) -> list:
    """Send one request per client at the same moment, each thread with its own connection."""
    barrier = threading.Barrier(len(clients))
    responses: list = [None] * len(clients)

    def run(position: int) -> None:
        try:
            barrier.wait(timeout=10)
            responses[position] = clients[position].post(path, bodies[position], format="json")
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(position,)) for position in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return responses


def _one_created_one_taken(responses) -> None:
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201, 400], [response.content for response in responses]
    refused = next(response for response in responses if response.status_code == 400)
    (error,) = refused.json()["errors"]
    assert (error["code"], error["field"] in {"name", "name.en", "name.ru"}) == ("name_taken", True)


ROUNDS = 10


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_kpis_named_alike_at_the_same_moment_make_one_kpi(company, token_client):
    # given two integrations, each with its own token (and so its own row to touch when it authenticates)
    clients = [token_client(company, scopes=["read", "definitions"]) for _n in range(2)]
    for round_ in range(ROUNDS):
        # when both create a KPI at once, whose names collide in different languages (K2)
        responses = _race(
            clients,
            "/api/v1/kpis/",
            [
                {"name": {"en": f"Revenue {round_}"}, "integration_name": f"a_{round_}"},
                {
                    "name": {"en": f"Other {round_}", "ru": f"REVENUE {round_}"},
                    "integration_name": f"b_{round_}",
                },
            ],
        )
        # then exactly one wins, the other is told the name is taken, and nothing is a 500
        _one_created_one_taken(responses)
    with company_context(company.id):
        assert Kpi.objects.count() == ROUNDS


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_units_named_alike_at_the_same_moment_make_one_unit(company, token_client):
    clients = [token_client(company, scopes=["read", "definitions"]) for _n in range(2)]
    for round_ in range(ROUNDS):
        responses = _race(
            clients,
            "/api/v1/units/",
            [
                {"name": {"en": f"calls {round_}"}},
                {"name": {"en": f"other {round_}", "ru": f"Calls {round_}"}},
            ],
        )
        _one_created_one_taken(responses)
    with company_context(company.id):
        assert Unit.objects.filter(is_default=False).count() == ROUNDS


def _passed_check_then(monkeypatch, name: str, signal: threading.Event, results: list) -> None:
    """Wrap a service's uniqueness pre-check: in the thread named "second", record whether it
    passed and signal once it has run, so the first transaction commits only after it."""
    real = getattr(services, name)

    def spy(errors, *args):
        found_before = len(errors.errors)
        real(errors, *args)
        if threading.current_thread().name == "second":
            results.append(len(errors.errors) == found_before)
            signal.set()

    monkeypatch.setattr(services, name, spy)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("check", "create", "first", "second"),
    [
        (
            "_check_kpi_names",
            lambda name, n: services.kpi_create(name=name, integration_name=f"kpi_{n}"),
            {"en": "Revenue"},
            {"en": "Other", "ru": "revenue"},
        ),
        (
            "_unit_names",
            lambda name, n: services.unit_create(name=name),
            {"en": "calls"},
            {"en": "x", "ru": "CALLS"},
        ),
    ],
)
def test_the_unique_names_constraint_settles_a_race_the_pre_check_cannot_see(
    company, monkeypatch, check, create, first, second
):
    # given a first transaction that has written a name and not committed it yet
    checked, inserted = threading.Event(), threading.Event()
    passed: list[bool] = []
    outcome: dict = {}
    _passed_check_then(monkeypatch, check, checked, passed)

    def run_first() -> None:
        try:
            with company_context(company.id), transaction.atomic():
                create(first, 1)
                inserted.set()
                assert checked.wait(timeout=10)
        finally:
            connection.close()

    def run_second() -> None:
        try:
            assert inserted.wait(timeout=10)
            with company_context(company.id):
                create(second, 2)
            outcome["error"] = None
        except DomainError as error:
            outcome["error"] = (error.code, error.field)
        finally:
            connection.close()

    # when a second one checks the same name in another language (passing: the first is not
    # committed), and writes it
    threads = [threading.Thread(target=run_first), threading.Thread(target=run_second, name="second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # then the pre-check passed, the constraint refused the second name, and one row stands
    assert passed == [True]
    assert outcome["error"] == ("name_taken", "name")
    with company_context(company.id):
        assert Kpi.objects.count() + Unit.objects.filter(is_default=False).count() == 1


# --- Whose targets a person reads (O4, issue 17) ---------------------------------------------------------


@pytest.fixture
def held_targets(org):
    """An Active company KPI with a target for the company, each unit and some people."""
    with company_context(org.company.id):
        kpi = make_active_kpi(org.company, integration_name="held")
        holders = {
            "company": {},
            "sales": {"scope": "department", "department": org.sales},
            "support": {"scope": "department", "department": org.support},
            "north": {"scope": "team", "team": org.north},
            "south": {"scope": "team", "team": org.south},
            "care": {"scope": "team", "team": org.care},
            **{
                name: {"scope": "user", "member": getattr(org, name)}
                for name in ("manager", "lead", "member", "seller", "carer")
            },
        }
        targets = {
            name: make_target(kpi=kpi, value="1600000", **fields).id for name, fields in holders.items()
        }
    return SimpleNamespace(kpi=kpi, targets=targets)


# Whose targets each role reads: the company's, the units they see and the people they see (O4).
HELD_TARGETS_SEEN = {
    "admin": {
        "company",
        "sales",
        "support",
        "north",
        "south",
        "care",
        "manager",
        "lead",
        "member",
        "seller",
        "carer",
    },
    "manager": {"company", "sales", "north", "south", "manager", "lead", "member", "seller"},
    "lead": {"company", "sales", "north", "lead", "member"},
    "member": {"company", "sales", "north", "member"},
}


@pytest.mark.parametrize("who", list(HELD_TARGETS_SEEN))
def test_people_read_the_targets_of_the_holders_they_see_only(
    org, held_targets, client_for, assert_isolated, who
):
    """O4, issue 17: a target follows its holder's visibility, in the list, the detail and the KPI's
    history (they filtered by the KPI only: a member read another person's target)."""
    client = client_for(getattr(org, who))
    names = {target_id: name for name, target_id in held_targets.targets.items()}
    seen = HELD_TARGETS_SEEN[who]
    # the list
    listed = client.get(f"/api/v1/targets/?kpi={held_targets.kpi.id}&limit=100").json()["results"]
    assert {names[target["id"]] for target in listed} == seen
    # each detail: 200 for a holder they see, the same 404 as a missing id for any other
    for name, target_id in held_targets.targets.items():
        response = client.get(f"/api/v1/targets/{target_id}/")
        if name in seen:
            assert response.status_code == 200, (name, response.content)
        else:
            assert_isolated(response)
    # the KPI's history names only the targets they see
    history = client.get(f"/api/v1/kpis/{held_targets.kpi.id}/history/?limit=100").json()["results"]
    assert {names[entry["object_id"]] for entry in history if entry["object_type"] == "target"} == seen
    assert any(entry["object_type"] == "kpi" for entry in history)


def test_the_target_list_and_history_keep_their_query_counts_with_many_holders(org, held_targets, client_for):
    """The holder rule is part of the query: no query per target (STYLE section 10)."""
    client = client_for(org.lead)
    with CaptureQueriesContext(connection) as few:
        client.get(f"/api/v1/targets/?kpi={held_targets.kpi.id}&limit=100")
        client.get(f"/api/v1/kpis/{held_targets.kpi.id}/history/?limit=100")
    with company_context(org.company.id):
        for month in range(1, 10):
            for member in (org.lead, org.member, org.seller):
                make_target(
                    kpi=held_targets.kpi, start=datetime.date(2025, month, 1), scope="user", member=member
                )
    with CaptureQueriesContext(connection) as many:
        client.get(f"/api/v1/targets/?kpi={held_targets.kpi.id}&limit=100")
        client.get(f"/api/v1/kpis/{held_targets.kpi.id}/history/?limit=100")
    assert len(many) == len(few)


# --- Sane limits on a rating ratio (R2, issue 17) ---------------------------------------------------------


def test_a_ratio_whose_points_would_overflow_is_refused_when_the_kpi_is_saved(org, caller):
    """R2, issue 17: 0.01 units = 2,147,483,647 points made one action's points overflow the points
    column (a 500 on PostgreSQL); a ratio gives at most 1,000,000 points per unit of measurement."""
    before = definitions(org.company)
    # when a KPI is created with a ratio beyond the bound
    created = caller.post(
        "/api/v1/kpis/",
        {
            "name": {"en": "Calls", "ru": "Звонки"},
            "integration_name": "calls",
            "rating_units": "0.01",
            "rating_points": 2147483647,
        },
        format="json",
    )
    # then it is refused on the points, with the bound in the message, and nothing is written
    assert_refused(created, 400, ("rating_points_invalid", "rating_points"))
    assert "1,000,000" in created.json()["errors"][0]["message"]
    assert definitions(org.company) == before
    # and a change of the units alone that goes past it is refused on the units
    with company_context(org.company.id):
        services.kpi_update(kpi=org.revenue, rating_points=1000000)
    before = definitions(org.company)
    changed = caller.patch(f"/api/v1/kpis/{org.revenue.id}/", {"rating_units": "0.50"}, format="json")
    assert_refused(changed, 400, ("rating_units_invalid", "rating_units"))
    assert definitions(org.company) == before
    # while the bound itself is accepted
    assert (
        caller.patch(f"/api/v1/kpis/{org.revenue.id}/", {"rating_units": "1"}, format="json").status_code
        == 200
    )


@pytest.mark.parametrize("points", ["²", "٣", "1" * 30, " 5 ", "__inf__", -1, 2.5, "1e3"])
def test_rating_points_that_are_no_whole_number_in_ascii_digits_are_refused_not_a_500(org, caller, points):
    """K4, issue 17: "²" passed ``str.isdigit`` and failed ``int`` (a 500); a number too large
    for JSON's floats is infinite. Each is ``rating_points_invalid``, and nothing is written."""
    before = definitions(org.company)
    body = {"name": {"en": "Calls", "ru": "Звонки"}, "integration_name": "calls", "rating_points": points}
    text = json.dumps(body).replace('"__inf__"', "1e400")  # json.loads reads it as inf
    created = caller.post("/api/v1/kpis/", text, content_type="application/json")
    if points == " 5 ":
        assert created.status_code == 201
        return
    assert_refused(created, 400, ("rating_points_invalid", "rating_points"))
    assert definitions(org.company) == before
