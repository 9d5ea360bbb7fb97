"""The KPI admin (PRODUCT K1–K10, O2, O4): company admins define units, KPIs, access, hides and
targets through the services, see every refusal of the services on the form, and see, pick, link
to and change nothing of another company."""

import html
import json
import re
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kpi_platform.errors import DomainError
from kpis import services, terms
from kpis.models import Change, Kpi, KpiAudience, KpiHide, KpiStatus, Target, TargetPart, Unit
from kpis.tests.factories import make_active_kpi, make_kpi, make_target, make_unit
from orgs import services as org_services
from orgs.models import Role, User
from orgs.tenancy import company_context
from orgs.tests.admin_pages import ADMIN, assert_no_names, assert_not_found_redirect, reload, rows, text

KPIS = "/admin/kpis/kpi/"
UNITS = "/admin/kpis/unit/"
TARGETS = "/admin/kpis/target/"

# Names that must never appear on a page of Acme's admin, and the other way round.
GLOBEX_NAMES = ["Globex Secret KPI", "globex_secret", "Globex Widgets", "Globex Secret Dept", "Zed Globexian"]
ACME_NAMES = ["Calls made", "Звонки", "calls_made", "Demos", "Hunters", "alice@acme.example"]


# --- Fixtures and helpers --------------------------------------------------------------------------


@pytest.fixture
def acme(company, admin_member, make_member):
    """Acme (en + ru): Sales (Hunters, Farmers) and Support, three people, a unit "calls" and two
    KPIs: "Calls made" (company level, Active, in calls) and "Demos" (Hidden, English only)."""
    with company_context(company.id):
        sales = org_services.department_create(name="Sales")
        support = org_services.department_create(name="Support")
        hunters = org_services.team_create(name="Hunters", department=sales)
        farmers = org_services.team_create(name="Farmers", department=sales)
    alice = make_member(
        company, first_name="Alice", last_name="Archer", email="alice@acme.example", team=hunters
    )
    bob = make_member(company, first_name="Bob", last_name="Baker", email="bob@acme.example", team=farmers)
    carol = make_member(
        company, first_name="Carol", last_name="Cole", email="carol@acme.example", department=support
    )
    with company_context(company.id):
        points = services.default_unit()
        calls = make_unit(name={"en": "calls", "ru": "звонки"})
        calls_made = make_kpi(
            name={"en": "Calls made", "ru": "Звонки"},
            integration_name="calls_made",
            unit=calls,
            status="active",
            in_rating=True,
            rating_units="10",
            rating_points=2,
        )
        demos = make_kpi(name={"en": "Demos"}, integration_name="demos")
    return SimpleNamespace(
        company=company,
        admin=admin_member,
        sales=sales,
        support=support,
        hunters=hunters,
        farmers=farmers,
        alice=alice,
        bob=bob,
        carol=carol,
        points=points,
        calls=calls,
        calls_made=calls_made,
        demos=demos,
    )


@pytest.fixture
def globex(other_company, other_admin_member, make_member):
    """Globex (en only): a department, a team, a person, a unit, a KPI and a target."""
    with company_context(other_company.id):
        department = org_services.department_create(name="Globex Secret Dept")
        team = org_services.team_create(name="Globex Secret Team", department=department)
    person = make_member(
        other_company, first_name="Zed", last_name="Globexian", email="zed@globex.example", team=team
    )
    with company_context(other_company.id):
        points = services.default_unit()
        widgets = make_unit(name={"en": "Globex Widgets"})
        kpi = make_kpi(name={"en": "Globex Secret KPI"}, integration_name="globex_secret", unit=widgets)
        target = make_target(kpi=kpi, value="500")
    return SimpleNamespace(
        company=other_company,
        admin=other_admin_member,
        department=department,
        team=team,
        person=person,
        points=points,
        widgets=widgets,
        kpi=kpi,
        target=target,
    )


@pytest.fixture
def acme_admin(client, acme):
    client.force_login(acme.admin.user)
    return client


@pytest.fixture
def globex_admin(client, globex):
    client.force_login(globex.admin.user)
    return client


def page_has(response, message: str) -> bool:
    """The message is on the page (the page escapes quotes and angle brackets)."""
    return html.escape(message) in text(response) or message in html.unescape(text(response))


def select_options(response, name: str, select_id: str = "") -> set[str]:
    match = re.search(
        rf'<select[^>]*name="{name}"[^>]*id="{select_id}[^"]*"[^>]*>(.*?)</select>', text(response), re.S
    )
    assert match, f"no <select name={name!r}> on the page"
    return {value for value in re.findall(r'<option value="([^"]*)"', match.group(1)) if value}


def messages_of(client) -> str:
    return text(client.get(ADMIN))


def kpi_data(acme, **overrides) -> dict:
    """A valid KPI form for Acme (en + ru), changed by ``overrides`` (None drops a field)."""
    data = {
        "name_en": "Deals closed",
        "name_ru": "Сделки",
        "description_en": "",
        "description_ru": "",
        "integration_name": "deals_closed",
        "unit": acme.points.pk,
        "kind": "primary",
        "rating_units": "1",
        "rating_points": "1",
        "level": "company",
        "department": "",
        "team": "",
        "direction": "higher_is_better",
        "owner": "",
        "category": "",
        "timing": "",
        "measure": "",
        "perspective": "",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def kpi_form_of(kpi: Kpi, unit: Unit, **overrides) -> dict:
    """The change form of ``kpi`` as the admin would post it untouched, changed by ``overrides``."""
    data = {
        "name_en": kpi.name_en,
        "name_ru": kpi.name_ru or "",
        "description_en": kpi.description_en or "",
        "description_ru": kpi.description_ru or "",
        "integration_name": kpi.integration_name,
        "unit": unit.pk,
        "kind": kpi.kind,
        "rating_units": str(kpi.rating_units),
        "rating_points": str(kpi.rating_points),
        "level": kpi.level,
        "department": kpi.department_id or "",
        "team": kpi.team_id or "",
        "direction": kpi.direction,
        "owner": "",
        "category": "",
        "timing": "",
        "measure": "",
        "perspective": "",
    }
    if kpi.in_rating:
        data["in_rating"] = "on"
    if kpi.status == KpiStatus.ACTIVE:
        data["status"] = "active"
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


# --- Who gets in -----------------------------------------------------------------------------------


def test_a_company_admin_sees_the_kpi_sections(acme_admin):
    page = text(acme_admin.get(ADMIN))
    for section in ["KPI definitions", "KPIs", "Units of measurement", "Targets"]:
        assert section in page


PAGES = [KPIS, f"{KPIS}add/", UNITS, f"{UNITS}add/", TARGETS, f"{KPIS}search/?q=calls"]


@pytest.mark.parametrize("role", [Role.MANAGER, Role.LEAD, Role.MEMBER])
def test_managers_leads_and_members_get_the_login_page(client, acme, make_member, role):
    client.force_login(make_member(acme.company, role).user)
    for url in [*PAGES, f"{KPIS}{acme.calls_made.pk}/access/", f"{KPIS}{acme.calls_made.pk}/history/"]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith("/admin/login/"), url


def test_a_staff_manager_without_the_admin_role_is_refused(client, acme, make_member):
    # given a manager whose account is marked staff by mistake
    manager = make_member(acme.company, Role.MANAGER)
    User.objects.filter(pk=manager.user.pk).update(is_staff=True)
    client.force_login(manager.user)
    # then the KPI pages are refused, and nothing is written by posting
    for url in [*PAGES, f"{KPIS}{acme.calls_made.pk}/access/", f"{KPIS}{acme.calls_made.pk}/change/"]:
        assert client.get(url).status_code == 403, url
    response = client.post(
        f"{KPIS}{acme.calls_made.pk}/access/", {"mode": "chosen", "teams": [acme.hunters.pk]}
    )
    assert response.status_code == 403
    assert not rows(KpiAudience, acme.company).exists()
    assert "KPIs" not in text(client.get(ADMIN))


def test_a_visitor_is_sent_to_sign_in(client, acme):
    for url in PAGES:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith("/admin/login/"), url


# --- Units of measurement (K3) ----------------------------------------------------------------------


def test_the_unit_list_shows_each_enabled_language_the_default_and_the_kpi_count(acme_admin, acme):
    response = acme_admin.get(UNITS)
    page = text(response)
    assert response.status_code == 200
    assert "column-name_en" in page
    assert "column-name_ru" in page
    for name in ["points", "баллы", "calls", "звонки"]:
        assert f">{name}<" in page
    # "calls" is used by one KPI; "points" (the default) by the other
    assert re.search(r'class="field-kpi_count">1<', page)


def test_a_company_with_one_language_gets_one_name_field_and_column(globex_admin):
    form = text(globex_admin.get(f"{UNITS}add/"))
    listing = text(globex_admin.get(UNITS))
    assert 'name="name_en"' in form
    assert 'name="name_ru"' not in form
    assert "column-name_ru" not in listing


def test_adding_a_unit_goes_through_the_service(acme_admin, acme):
    response = acme_admin.post(f"{UNITS}add/", {"name_en": " meetings ", "name_ru": "встречи"})
    assert response.status_code == 302
    unit = rows(Unit, acme.company).get(name_en="meetings")
    assert unit.name_ru == "встречи"
    # the service recorded it (K10)
    change = rows(Change, acme.company).get(object_type="unit", object_id=unit.pk)
    assert (change.action, change.actor_id) == ("created", acme.admin.pk)


def test_a_units_decimals_are_chosen_on_its_form_and_kept_when_not_posted(acme_admin, acme):
    """Issue 18: how many decimals its figures show, set by an admin, in the unit's history."""
    acme_admin.post(f"{UNITS}add/", {"name_en": "visits", "name_ru": "визиты", "decimals": "0"})
    unit = rows(Unit, acme.company).get(name_en="visits")
    assert unit.decimals == 0
    acme_admin.post(f"{UNITS}{unit.pk}/change/", {"name_en": "site visits", "name_ru": "визиты"})
    assert rows(Unit, acme.company).get(pk=unit.pk).decimals == 0
    acme_admin.post(
        f"{UNITS}{unit.pk}/change/", {"name_en": "site visits", "name_ru": "визиты", "decimals": "1"}
    )
    assert rows(Unit, acme.company).get(pk=unit.pk).decimals == 1
    change = rows(Change, acme.company).filter(object_type="unit", object_id=unit.pk).order_by("id").last()
    assert change.changes == {"decimals": [0, 1]}


def test_the_unit_form_offers_only_the_enabled_languages(acme_admin):
    page = text(acme_admin.get(f"{UNITS}add/"))
    assert 'name="name_en"' in page
    assert 'name="name_ru"' in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name_en": "x" * 19, "name_ru": ""}, "A unit's name has 1 to 18 characters."),
        ({"name_en": "", "name_ru": "штуки"}, "A unit's name has 1 to 18 characters."),
        ({"name_en": "POINTS", "name_ru": ""}, "Another unit is already called “POINTS” (in some language)."),
        (
            {"name_en": "pcs", "name_ru": "Calls"},
            "Another unit is already called “Calls” (in some language).",
        ),
        ({"name_en": "Звонки", "name_ru": ""}, "Another unit is already called “Звонки” (in some language)."),
    ],
)
def test_unit_refusals_are_form_errors_and_nothing_is_written(acme_admin, acme, data, message):
    units = rows(Unit, acme.company).count()
    response = acme_admin.post(f"{UNITS}add/", data)
    assert response.status_code == 200
    assert page_has(response, message)
    assert rows(Unit, acme.company).count() == units


def test_renaming_a_unit_goes_through_the_service_and_refuses_a_taken_name(acme_admin, acme):
    taken = acme_admin.post(f"{UNITS}{acme.calls.pk}/change/", {"name_en": "Points", "name_ru": "звонки"})
    renamed = acme_admin.post(
        f"{UNITS}{acme.calls.pk}/change/", {"name_en": "phone calls", "name_ru": "звонки"}
    )
    assert page_has(taken, "Another unit is already called “Points” (in some language).")
    assert renamed.status_code == 302
    assert reload(acme.calls, acme.company).name_en == "phone calls"


def test_the_default_unit_cannot_be_renamed(acme_admin, acme):
    response = acme_admin.post(f"{UNITS}{acme.points.pk}/change/", {"name_en": "pts", "name_ru": "баллы"})
    assert response.status_code == 200
    assert page_has(response, "The default unit “points” cannot be renamed.")
    assert reload(acme.points, acme.company).name_en == "points"


@pytest.mark.parametrize(
    ("unit_of", "message"),
    [
        (lambda acme: acme.points, "The default unit “points” cannot be deleted."),
        (lambda acme: acme.calls, "A KPI uses this unit: choose another unit for it first."),
    ],
)
def test_a_unit_the_service_keeps_is_not_deleted_and_the_admin_is_told_why(
    acme_admin, acme, unit_of, message
):
    unit = unit_of(acme)
    # when the admin opens its delete page
    page = acme_admin.get(f"{UNITS}{unit.pk}/delete/")
    # then the page says why, and offers no confirmation
    assert page.status_code == 200
    assert page_has(page, message)
    assert 'name="post"' not in text(page)
    # when they post the deletion anyway
    response = acme_admin.post(f"{UNITS}{unit.pk}/delete/", {"post": "yes"})
    # then they are back on the unit with the service's message, and it is still there
    assert response.status_code == 302
    assert response.url == f"{UNITS}{unit.pk}/change/"
    assert page_has(acme_admin.get(response.url), message)
    assert rows(Unit, acme.company).filter(pk=unit.pk).exists()


def test_an_unused_unit_is_deleted_through_the_service(acme_admin, acme):
    with company_context(acme.company.id):
        spare = make_unit(name={"en": "spare"})
    response = acme_admin.post(f"{UNITS}{spare.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not rows(Unit, acme.company).filter(pk=spare.pk).exists()
    assert (
        rows(Change, acme.company).filter(object_type="unit", object_id=spare.pk, action="deleted").exists()
    )


def test_the_kpi_form_offers_add_and_edit_of_the_unit_in_popups(acme_admin, acme):
    page = text(acme_admin.get(f"{KPIS}add/"))
    assert 'id="add_id_unit"' in page
    assert "/admin/kpis/unit/add/?_to_field=id&amp;_popup=1" in page
    assert 'id="change_id_unit"' in page
    assert 'id="delete_id_unit"' not in page
    # the new KPI starts with the default unit
    assert re.search(rf'<option value="{acme.points.pk}" selected>points</option>', page)


def test_a_unit_added_in_the_popup_is_saved_by_the_service_and_handed_to_the_form(acme_admin, acme):
    response = acme_admin.post(
        f"{UNITS}add/?_to_field=id&_popup=1",
        {"name_en": "visits", "name_ru": "визиты", "_popup": "1", "_to_field": "id"},
    )
    assert response.status_code == 200
    unit = rows(Unit, acme.company).get(name_en="visits")
    data = json.loads(html.unescape(re.search(r'data-popup-response="([^"]+)"', text(response)).group(1)))
    assert data == {"value": str(unit.pk), "obj": "visits"}


def test_a_unit_changed_in_the_popup_updates_the_form(acme_admin, acme):
    response = acme_admin.post(
        f"{UNITS}{acme.calls.pk}/change/?_to_field=id&_popup=1",
        {"name_en": "dials", "name_ru": "звонки", "_popup": "1", "_to_field": "id"},
    )
    assert response.status_code == 200
    data = json.loads(html.unescape(re.search(r'data-popup-response="([^"]+)"', text(response)).group(1)))
    assert data["action"] == "change"
    assert data["obj"] == "dials"
    assert reload(acme.calls, acme.company).name_en == "dials"


def test_a_refused_unit_in_the_popup_stays_in_the_popup(acme_admin, acme):
    response = acme_admin.post(
        f"{UNITS}add/?_to_field=id&_popup=1", {"name_en": "calls", "_popup": "1", "_to_field": "id"}
    )
    assert response.status_code == 200
    assert page_has(response, "Another unit is already called “calls” (in some language).")
    assert 'name="_popup" value="1"' in text(response)


# --- KPIs: adding and changing through the services (K1, K2, K4, K5, K7) ---------------------------------


def test_adding_a_kpi_goes_through_the_service_then_to_the_access_step(acme_admin, acme):
    # when the admin fills in the form and saves
    response = acme_admin.post(
        f"{KPIS}add/",
        kpi_data(
            acme,
            unit=acme.calls.pk,
            description_en="See [the playbook](https://wiki.acme.example/playbook).",
            description_ru="См. [регламент](https://wiki.acme.example/playbook).",
            status="active",
            in_rating="on",
            rating_units="2.5",
            rating_points="3",
            kind="secondary",
            owner=acme.alice.pk,
            category="operational",
            perspective="customer",
        ),
    )
    # then the KPI is created as the service makes it
    kpi = rows(Kpi, acme.company).get(integration_name="deals_closed")
    assert (kpi.name_en, kpi.name_ru, kpi.status, kpi.unit_id) == (
        "Deals closed",
        "Сделки",
        "active",
        acme.calls.pk,
    )
    assert (kpi.in_rating, str(kpi.rating_units), kpi.rating_points, kpi.kind) == (
        True,
        "2.50",
        3,
        "secondary",
    )
    assert (kpi.owner_id, kpi.category, kpi.perspective) == (acme.alice.pk, "operational", "customer")
    assert kpi.description_en == "See [the playbook](https://wiki.acme.example/playbook)."
    # and the next step is who receives it (K8)
    assert response.status_code == 302
    assert response.url == f"{KPIS}{kpi.pk}/access/"
    change = rows(Change, acme.company).get(object_type="kpi", object_id=kpi.pk)
    assert (change.action, change.actor_id) == ("created", acme.admin.pk)


KPI_REFUSALS = [
    pytest.param(
        {"name_en": ""}, "The name is required in the company's default language.", id="required-name"
    ),
    pytest.param(
        {"integration_name": ""}, "The integration field name is required.", id="required-integration"
    ),
    pytest.param({"name_en": "x" * 256}, "A name has at most 255 characters.", id="name_length"),
    pytest.param({"name_ru": "я" * 256}, "A name has at most 255 characters.", id="name_length-ru"),
    pytest.param(
        {"name_en": "CALLS MADE"},
        "Another KPI is already called “CALLS MADE” (in some language).",
        id="name_taken",
    ),
    pytest.param(
        {"name_ru": "calls made"},
        "Another KPI is already called “calls made” (in some language).",
        id="name_taken-across-languages",
    ),
    pytest.param(
        {"name_en": "ЗВОНКИ"},
        "Another KPI is already called “ЗВОНКИ” (in some language).",
        id="name_taken-ru-in-en",
    ),
    pytest.param(
        {"integration_name": "CALLS_MADE"},
        "Another KPI already uses this integration field name.",
        id="integration_name_taken",
    ),
    pytest.param(
        {"integration_name": "deals closed!"},
        "Use only Latin letters, digits and _ (at most 100 characters).",
        id="integration_name_invalid",
    ),
    pytest.param(
        {"integration_name": "x" * 101},
        "Use only Latin letters, digits and _ (at most 100 characters).",
        id="integration_name_invalid-long",
    ),
    pytest.param(
        {"in_rating": "on", "rating_units": "1.234"},
        "Units of measurement: a positive number with at most two decimal places.",
        id="rating_units_invalid-decimals",
    ),
    pytest.param(
        {"in_rating": "on", "rating_units": "0"},
        "Units of measurement: a positive number with at most two decimal places.",
        id="rating_units_invalid-zero",
    ),
    pytest.param(
        {"in_rating": "on", "rating_units": "ten"},
        "Units of measurement: a positive number with at most two decimal places.",
        id="rating_units_invalid-text",
    ),
    pytest.param(
        {"in_rating": "on", "rating_points": "1.5"},
        "Rating points: a positive whole number.",
        id="rating_points_invalid",
    ),
    pytest.param(
        {"in_rating": "on", "rating_points": "0"},
        "Rating points: a positive whole number.",
        id="rating_points_invalid-0",
    ),
    pytest.param({"status": "active", "name_ru": ""}, "Fill in the name in Russian.", id="incomplete-name"),
    pytest.param(
        {"status": "active", "description_en": "Terms"},
        "Fill in the description in Russian.",
        id="incomplete-description",
    ),
    pytest.param(
        {"description_en": "[x](javascript:alert(1))"},
        'Link "[x](javascript:alert(1)": Only http and https links are allowed, not "javascript".',
        id="link_invalid-scheme",
    ),
    pytest.param(
        {"description_ru": "[x](internal:kpis/999999)"},
        "The linked KPI 999999 does not exist.",
        id="link_invalid-missing",
    ),
    pytest.param(
        {"description_en": "[](https://acme.example)"},
        'Link "[](https://acme.example)": A link needs a title.',
        id="link_invalid-title",
    ),
]


@pytest.mark.parametrize(("overrides", "message"), KPI_REFUSALS)
def test_adding_a_kpi_the_service_refuses_shows_its_message_and_writes_nothing(
    acme_admin, acme, overrides, message
):
    kpis, changes = rows(Kpi, acme.company).count(), rows(Change, acme.company).count()
    # when the admin saves a KPI the service refuses
    response = acme_admin.post(f"{KPIS}add/", kpi_data(acme, **overrides))
    # then the form is shown again with the service's message, and nothing was written
    assert response.status_code == 200
    assert page_has(response, message), message
    assert "Please correct the error" in text(response)
    assert rows(Kpi, acme.company).count() == kpis
    assert rows(Change, acme.company).count() == changes


@pytest.mark.parametrize(("overrides", "message"), KPI_REFUSALS)
def test_changing_a_kpi_the_service_refuses_shows_its_message_and_changes_nothing(
    acme_admin, acme, overrides, message
):
    # given the Hidden "Demos" in both languages
    with company_context(acme.company.id):
        services.kpi_update(kpi=acme.demos, name={"ru": "Демо"})
        demos = Kpi.objects.get(pk=acme.demos.pk)
    data = kpi_form_of(demos, acme.points, **{"integration_name": "demos", **overrides})
    if "name_en" not in overrides and "name_ru" not in overrides and overrides.get("integration_name") != "":
        data.setdefault("name_en", "Demos")
    # when the admin saves a change the service refuses
    response = acme_admin.post(f"{KPIS}{demos.pk}/change/", data)
    # then the message is shown and the KPI is as it was
    assert response.status_code == 200
    assert page_has(response, message), message
    after = reload(demos, acme.company)
    assert (after.name_en, after.name_ru, after.integration_name, after.status) == (
        "Demos",
        "Демо",
        "demos",
        "hidden",
    )
    assert (after.description_en, after.in_rating, after.rating_units) == ("", False, demos.rating_units)


def test_every_refusal_of_a_save_is_shown_at_once(acme_admin, acme):
    response = acme_admin.post(
        f"{KPIS}add/",
        kpi_data(acme, name_en="calls made", integration_name="bad name", in_rating="on", rating_points="-1"),
    )
    for message in [
        "Another KPI is already called “calls made” (in some language).",
        "Use only Latin letters, digits and _ (at most 100 characters).",
        "Rating points: a positive whole number.",
    ]:
        assert page_has(response, message), message


def test_a_language_the_service_refuses_is_shown_on_the_form(acme_admin, acme, monkeypatch):
    # given a service that refuses a language (a company that has just disabled it, say)
    def refuse(**kwargs):
        raise DomainError(
            "language_invalid", "The language “ru” is not enabled for the company.", field="name.ru"
        )

    monkeypatch.setattr(services, "kpi_create", refuse)
    response = acme_admin.post(f"{KPIS}add/", kpi_data(acme))
    assert response.status_code == 200
    assert page_has(response, "The language “ru” is not enabled for the company.")


def test_a_language_the_company_has_not_enabled_is_neither_offered_nor_written(globex_admin, globex):
    page = text(globex_admin.get(f"{KPIS}add/"))
    assert 'name="name_ru"' not in page
    assert 'id="kpi-tab-ru"' not in page
    response = globex_admin.post(
        f"{KPIS}add/",
        kpi_data(
            SimpleNamespace(points=globex.points),
            name_en="Orders",
            name_ru="Заказы",
            integration_name="orders",
        ),
    )
    assert response.status_code == 302
    kpi = rows(Kpi, globex.company).get(integration_name="orders")
    assert (kpi.name_en, kpi.name_ru) == ("Orders", "")


def test_the_ratio_is_kept_but_ignored_when_the_kpi_is_not_in_the_rating(acme_admin, acme):
    # when the admin takes "Calls made" out of the rating, with nonsense left in the hidden ratio
    response = acme_admin.post(
        f"{KPIS}{acme.calls_made.pk}/change/",
        kpi_form_of(acme.calls_made, acme.calls, in_rating=None, rating_units="ten", rating_points="0"),
    )
    # then it is saved, and the ratio is the one it had
    assert response.status_code == 302
    kpi = reload(acme.calls_made, acme.company)
    assert (kpi.in_rating, str(kpi.rating_units), kpi.rating_points) == (False, "10.00", 2)


def test_changing_a_kpi_goes_through_the_service_and_merges_nothing_else(acme_admin, acme):
    response = acme_admin.post(
        f"{KPIS}{acme.calls_made.pk}/change/",
        kpi_form_of(
            acme.calls_made,
            acme.calls,
            name_en="Outbound calls",
            rating_units="5",
            level="department",
            department=acme.sales.pk,
            team=acme.hunters.pk,  # ignored: the level is a department
        ),
    )
    assert response.status_code == 302
    kpi = reload(acme.calls_made, acme.company)
    assert (kpi.name_en, kpi.name_ru, str(kpi.rating_units)) == ("Outbound calls", "Звонки", "5.00")
    assert (kpi.level, kpi.department_id, kpi.team_id) == ("department", acme.sales.pk, None)
    change = rows(Change, acme.company).filter(object_type="kpi", object_id=kpi.pk, action="changed").get()
    assert change.changes["name_en"] == ["Calls made", "Outbound calls"]


@pytest.mark.parametrize(
    ("field", "typed"), [("threshold_green", "1_000"), ("threshold_amber", "٣"), ("rating_units", "-0")]
)
def test_the_form_hands_decimals_as_typed_to_the_one_parser(acme_admin, acme, field, typed):
    """Issue 17: a DecimalField took "1_000" and "٣" as numbers before the service saw them."""
    before = reload(acme.calls_made, acme.company)
    response = acme_admin.post(
        f"{KPIS}{acme.calls_made.pk}/change/", kpi_form_of(before, acme.calls, **{field: typed})
    )

    assert response.status_code == 200
    after = reload(acme.calls_made, acme.company)
    assert (after.threshold_green, after.threshold_amber, after.rating_units) == (
        before.threshold_green,
        before.threshold_amber,
        before.rating_units,
    )


def test_a_team_level_kpi_takes_the_teams_department(acme_admin, acme):
    response = acme_admin.post(
        f"{KPIS}add/", kpi_data(acme, level="team", team=acme.hunters.pk, department=acme.support.pk)
    )
    assert response.status_code == 302
    kpi = rows(Kpi, acme.company).get(integration_name="deals_closed")
    assert (kpi.level, kpi.team_id, kpi.department_id) == ("team", acme.hunters.pk, acme.sales.pk)


def test_a_department_level_kpi_needs_its_department(acme_admin, acme):
    response = acme_admin.post(f"{KPIS}add/", kpi_data(acme, level="department"))
    assert response.status_code == 200
    assert page_has(response, "Choose the department of this KPI.")


# --- The form's state on load: tabs, marks, the status switch (K5) -------------------------------------


def _tab(page: str, code: str) -> str:
    return re.search(rf'<button type="button" role="tab" id="kpi-tab-{code}".*?</button>', page, re.S).group(
        0
    )


def _status_input(page: str) -> str:
    return re.search(r'<input type="checkbox" role="switch"[^>]*>', page).group(0)


def test_an_incomplete_kpi_marks_its_tab_and_keeps_the_switch_off(acme_admin, acme):
    # given "Demos", named in English only
    page = text(acme_admin.get(f"{KPIS}{acme.demos.pk}/change/"))
    # then the tabs are English then Russian, the Russian one marked incomplete
    assert page.index('id="kpi-tab-en"') < page.index('id="kpi-tab-ru"')
    assert "is-incomplete" in _tab(page, "ru")
    assert "is-incomplete" not in _tab(page, "en")
    assert 'title="Incomplete"' in _tab(page, "ru")
    assert re.search(r'class="kpi-tab-dot"[^>]*hidden', _tab(page, "en"))
    # and the status switch is off and disabled, saying why
    switch = _status_input(page)
    assert "disabled" in switch
    assert "checked" not in switch
    assert "Fill in the name in Russian to activate." in page


def test_a_complete_kpi_has_no_marks_and_an_enabled_switch(acme_admin, acme):
    page = text(acme_admin.get(f"{KPIS}{acme.calls_made.pk}/change/"))
    assert "is-incomplete" not in page
    switch = _status_input(page)
    assert "disabled" not in switch
    assert "checked" in switch
    assert re.search(r'<span class="kpi-status-reason" id="id_status_reason" hidden>', page)


def test_a_new_kpi_starts_incomplete_with_every_language_marked(acme_admin):
    page = text(acme_admin.get(f"{KPIS}add/"))
    assert "is-incomplete" in _tab(page, "en")
    assert "is-incomplete" in _tab(page, "ru")
    assert "disabled" in _status_input(page)
    assert "Fill in the name in English, the name in Russian, the integration field name to activate." in page
    # the script gets the same rule's texts
    config = json.loads(
        re.search(r'<script id="kpi-form-config" type="application/json">(.*?)</script>', page).group(1)
    )
    assert config["languages"] == {"en": "English", "ru": "Russian"}
    assert config["missingName"] == "the name in %(language)s"
    assert config["search"] == f"{KPIS}search/"


def test_a_refused_form_opens_on_the_tab_with_the_error(acme_admin, acme):
    response = acme_admin.post(f"{KPIS}add/", kpi_data(acme, name_ru="Звонки"))
    page = text(response)
    assert 'aria-selected="true"' in _tab(page, "ru")
    assert "has-errors" in _tab(page, "ru")
    assert re.search(r'id="kpi-panel-en"[^>]*hidden', page)


# --- Links in the terms (K7) --------------------------------------------------------------------------


XSS = (
    '<script>alert("x")</script> <img src=x onerror=alert(1)> '
    "[click](javascript:alert(1)) "
    '[bad](https://ok.example/" onmouseover="alert(1)) '
    "[[nested](https://acme.example/a)] "
    "[the rules](https://acme.example/rules?a=1&b=2)"
)


def test_the_terms_render_as_text_with_only_valid_links_on_the_form_and_the_list(acme_admin, acme):
    # given terms stored as they were before the checks (an old import, say)
    with company_context(acme.company.id):
        Kpi.objects.filter(pk=acme.demos.pk).update(description_en=XSS)
    for response in [acme_admin.get(f"{KPIS}{acme.demos.pk}/change/"), acme_admin.get(KPIS)]:
        page = text(response)
        assert response.status_code == 200
        assert "<script>alert" not in page
        assert "<img src=x" not in page
        assert 'href="javascript:' not in page.lower()
        assert re.search(r"<[^>]+\sonmouseover=", page) is None
        assert re.search(r"<[^>]+\sonerror=", page) is None
        # the markup is shown as text, the valid links as links
        assert "&lt;script&gt;" in page
        assert "[click](javascript:alert(1))" in page
        assert (
            '[<a href="https://acme.example/a" rel="noopener noreferrer nofollow" target="_blank">nested</a>]'
            in page
        )
        assert '<a href="https://acme.example/rules?a=1&amp;b=2"' in page


def test_the_preview_renders_the_terms_and_reports_their_link_problems(acme_admin, acme, globex):
    response = acme_admin.post(
        f"{KPIS}preview/",
        {
            "text": "<b>hi</b> [ok](https://acme.example) [x](ftp://a.example) "
            f"[y](internal:kpis/{globex.kpi.pk})"
        },
    )
    data = response.json()
    assert data["html"].startswith('&lt;b&gt;hi&lt;/b&gt; <a href="https://acme.example"')
    assert 'Only http and https links are allowed, not "ftp".' in data["errors"][0]
    assert data["errors"][1] == f"The linked KPI {globex.kpi.pk} does not exist."
    # and the link to Globex's KPI is its title, not a link
    assert data["html"].endswith("[x](ftp://a.example) y")
    assert acme_admin.get(f"{KPIS}preview/").status_code == 405


def test_the_kpi_search_finds_the_companys_kpis_by_name_integration_name_or_id(acme_admin, acme, globex):
    def found(query: str) -> list[int]:
        return [item["id"] for item in acme_admin.get(f"{KPIS}search/", {"q": query}).json()["results"]]

    assert found("вонк") == [acme.calls_made.pk]  # SQLite folds the case of ASCII only
    assert found("DEMO") == [acme.demos.pk]
    assert found("calls_m") == [acme.calls_made.pk]
    assert found(str(acme.demos.pk)) == [acme.demos.pk]
    assert set(found("")) == {acme.calls_made.pk, acme.demos.pk}
    assert found("9" * 40) == []
    # and never another company's
    assert found("Globex") == []
    assert found(str(globex.kpi.pk)) == []
    result = acme_admin.get(f"{KPIS}search/", {"q": "calls"}).json()["results"][0]
    assert result == {
        "id": acme.calls_made.pk,
        "name": "Calls made",
        "integration_name": "calls_made",
        "status": "Active",
        "meta": "calls_made · Active",
    }


def test_an_internal_link_saves_and_renders_as_a_link(acme_admin, acme):
    text_en = f"Before, read [calls](internal:kpis/{acme.calls_made.pk})."
    response = acme_admin.post(
        f"{KPIS}add/",
        kpi_data(
            acme, description_en=text_en, description_ru=f"[звонки](internal:kpis/{acme.calls_made.pk})"
        ),
    )
    assert response.status_code == 302
    kpi = rows(Kpi, acme.company).get(integration_name="deals_closed")
    assert kpi.description_en == text_en
    page = text(acme_admin.get(f"{KPIS}{kpi.pk}/change/"))
    assert f'<a href="{terms.INTERNAL_SECTIONS["kpis"](acme.calls_made.pk)}">calls</a>' in page


def test_a_link_to_a_kpi_with_a_narrower_audience_warns_after_saving(acme_admin, acme):
    # given a KPI only the team Hunters receives
    with company_context(acme.company.id):
        hunters_only = make_active_kpi(acme.company, level="team", team=acme.hunters)
    # when the admin saves a company-wide KPI whose terms link to it
    response = acme_admin.post(
        f"{KPIS}add/",
        kpi_data(
            acme,
            description_en=f"[hunters' KPI](internal:kpis/{hunters_only.pk})",
            description_ru=f"[KPI охотников](internal:kpis/{hunters_only.pk})",
        ),
    )
    # then it is saved, with a warning that some people cannot open the link
    assert response.status_code == 302
    page = text(acme_admin.get(response.url))
    assert "cannot open the link to" in page
    assert 'class="warning"' in page


def test_a_link_to_a_kpi_everyone_receives_does_not_warn(acme_admin, acme):
    response = acme_admin.post(
        f"{KPIS}add/",
        kpi_data(
            acme,
            description_en=f"[calls](internal:kpis/{acme.calls_made.pk})",
            description_ru=f"[звонки](internal:kpis/{acme.calls_made.pk})",
        ),
    )
    assert response.status_code == 302
    assert "cannot open the link" not in text(acme_admin.get(response.url))


def test_narrowing_the_audience_of_a_linking_kpi_is_checked_on_the_access_step(acme_admin, acme):
    # given "Demos" for Hunters only, linked from "Calls made"
    with company_context(acme.company.id):
        services.kpi_set_audience(kpi=acme.demos, audience=services.Audience(teams=[acme.hunters]))
        services.kpi_update(
            kpi=acme.calls_made,
            description={
                "en": f"[demos](internal:kpis/{acme.demos.pk})",
                "ru": f"[демо](internal:kpis/{acme.demos.pk})",
            },
        )
    # when the admin gives "Calls made" to Hunters and Farmers
    response = acme_admin.post(
        f"{KPIS}{acme.calls_made.pk}/access/", {"mode": "chosen", "teams": [acme.hunters.pk, acme.farmers.pk]}
    )
    # then the access is saved, with the warning (Farmers cannot open "Demos", which is hidden too)
    assert response.status_code == 302
    assert "cannot open the link" in text(acme_admin.get(response.url))


# --- Access assignment (K8) ------------------------------------------------------------------------


def test_the_access_step_offers_everyone_or_the_units_and_people_of_the_level(acme_admin, acme):
    response = acme_admin.get(f"{KPIS}{acme.calls_made.pk}/access/")
    assert response.status_code == 200
    page = text(response)
    assert 'value="everyone" checked' in page or re.search(r'value="everyone"[^>]*checked', page)
    assert "Everyone in the company" in page
    assert set(re.findall(r'name="departments" value="(\d+)"', page)) == {
        str(acme.sales.pk),
        str(acme.support.pk),
    }
    assert set(re.findall(r'name="teams" value="(\d+)"', page)) == {
        str(acme.hunters.pk),
        str(acme.farmers.pk),
    }
    assert select_options(response, "members") == {
        str(member.pk) for member in [acme.admin, acme.alice, acme.bob, acme.carol]
    }


def test_the_access_step_of_a_department_kpi_offers_only_that_department(acme_admin, acme):
    with company_context(acme.company.id):
        kpi = make_kpi(level="department", department=acme.sales)
    response = acme_admin.get(f"{KPIS}{kpi.pk}/access/")
    page = text(response)
    assert set(re.findall(r'name="departments" value="(\d+)"', page)) == {str(acme.sales.pk)}
    assert set(re.findall(r'name="teams" value="(\d+)"', page)) == {
        str(acme.hunters.pk),
        str(acme.farmers.pk),
    }
    assert select_options(response, "members") == {str(acme.alice.pk), str(acme.bob.pk)}
    # and Support's people are refused
    refused = acme_admin.post(f"{KPIS}{kpi.pk}/access/", {"mode": "chosen", "members": [acme.carol.pk]})
    assert refused.status_code == 200
    assert "Select a valid choice" in text(refused)
    assert not rows(KpiAudience, acme.company).filter(kpi=kpi).exists()


def test_choosing_units_and_people_saves_the_audience_through_the_service(acme_admin, acme):
    response = acme_admin.post(
        f"{KPIS}{acme.calls_made.pk}/access/",
        {
            "mode": "chosen",
            "departments": [acme.support.pk],
            "teams": [acme.hunters.pk],
            "members": [acme.bob.pk],
        },
    )
    assert response.status_code == 302
    assert response.url == f"{KPIS}{acme.calls_made.pk}/change/"
    with company_context(acme.company.id):
        audience = services.kpi_audience_get(acme.calls_made)
    assert [d.pk for d in audience.departments] == [acme.support.pk]
    assert [t.pk for t in audience.teams] == [acme.hunters.pk]
    assert [m.pk for m in audience.members] == [acme.bob.pk]
    # and giving it to everyone again empties it
    acme_admin.post(f"{KPIS}{acme.calls_made.pk}/access/", {"mode": "everyone", "teams": [acme.hunters.pk]})
    assert not rows(KpiAudience, acme.company).exists()
    # both are in the KPI's history
    changes = rows(Change, acme.company).filter(
        object_type="kpi", object_id=acme.calls_made.pk, action="changed"
    )
    assert changes.count() == 2


def test_choosing_nobody_is_refused(acme_admin, acme):
    response = acme_admin.post(f"{KPIS}{acme.calls_made.pk}/access/", {"mode": "chosen"})
    assert response.status_code == 200
    assert page_has(response, "Choose at least one department, team or person")


def test_the_services_audience_refusal_is_shown_on_the_access_step(acme_admin, acme, monkeypatch):
    def refuse(**kwargs):
        raise DomainError(
            "audience_invalid", "Choose teams of this KPI's department only.", field="audience.teams"
        )

    monkeypatch.setattr(services, "kpi_set_audience", refuse)
    response = acme_admin.post(
        f"{KPIS}{acme.calls_made.pk}/access/", {"mode": "chosen", "teams": [acme.hunters.pk]}
    )
    assert response.status_code == 200
    assert page_has(response, "Choose teams of this KPI's department only.")


def test_another_companys_units_and_people_are_refused_on_the_access_step(acme_admin, acme, globex):
    for data in [
        {"mode": "chosen", "departments": [globex.department.pk]},
        {"mode": "chosen", "teams": [globex.team.pk]},
        {"mode": "chosen", "members": [globex.person.pk]},
        {"mode": "chosen", "teams": [acme.hunters.pk, globex.team.pk]},
    ]:
        response = acme_admin.post(f"{KPIS}{acme.calls_made.pk}/access/", data)
        assert response.status_code == 200, data
        assert "Select a valid choice" in text(response)
        assert_no_names(response, GLOBEX_NAMES)
    assert not rows(KpiAudience, acme.company).exists()
    assert not rows(KpiAudience, globex.company).exists()


# --- Hides (K6) --------------------------------------------------------------------------------------


def test_hiding_and_showing_a_kpi_for_a_department_goes_through_the_service(acme_admin, acme):
    url = f"{KPIS}{acme.calls_made.pk}/hides/"
    page = acme_admin.get(f"{KPIS}{acme.calls_made.pk}/change/")
    assert f"department:{acme.sales.pk}" in select_options(page, "unit", "id_hide_unit")
    # when the admin hides "Calls made" for Support
    response = acme_admin.post(url, {"action": "hide", "unit": f"department:{acme.support.pk}"})
    assert response.status_code == 302
    hide = rows(KpiHide, acme.company).get()
    assert (hide.kpi_id, hide.department_id, hide.hidden_by_id) == (
        acme.calls_made.pk,
        acme.support.pk,
        acme.admin.pk,
    )
    page = text(acme_admin.get(f"{KPIS}{acme.calls_made.pk}/change/"))
    assert "is hidden for Support" in page
    assert "Show again" in page
    # when they show it again
    acme_admin.post(url, {"action": "unhide", "hide": hide.pk})
    assert not rows(KpiHide, acme.company).exists()
    actions = set(
        rows(Change, acme.company).filter(object_id=acme.calls_made.pk).values_list("action", flat=True)
    )
    assert {"hidden", "unhidden"} <= actions


def test_a_team_kpi_offers_no_unit_to_hide_it_for(acme_admin, acme):
    with company_context(acme.company.id):
        kpi = make_kpi(level="team", team=acme.hunters)
    page = text(acme_admin.get(f"{KPIS}{kpi.pk}/change/"))
    assert 'id="kpi-hide-form"' not in page
    response = acme_admin.post(
        f"{KPIS}{kpi.pk}/hides/", {"action": "hide", "unit": f"team:{acme.hunters.pk}"}
    )
    assert response.status_code == 302
    assert not rows(KpiHide, acme.company).exists()


def test_another_companys_units_cannot_be_hidden_for(acme_admin, acme, globex):
    for unit in [f"department:{globex.department.pk}", f"team:{globex.team.pk}"]:
        acme_admin.post(f"{KPIS}{acme.calls_made.pk}/hides/", {"action": "hide", "unit": unit})
    assert not rows(KpiHide, acme.company).exists()
    assert not rows(KpiHide, globex.company).exists()


# --- Targets (K9) -------------------------------------------------------------------------------------


def test_adding_a_target_with_a_breakdown_goes_through_the_services(acme_admin, acme):
    response = acme_admin.post(
        f"{TARGETS}add/",
        {
            "kpi": acme.calls_made.pk,
            "period": "quarter",
            "start": "2026-10-01",
            "value": "300",
            "scope": "team",
            "team": acme.hunters.pk,
            "department": acme.support.pk,  # ignored: the target is a team's
            "into": "month",
            "method": "even",
        },
    )
    assert response.status_code == 302
    target = rows(Target, acme.company).get()
    assert (target.scope, target.team_id, target.department_id, str(target.value)) == (
        "team",
        acme.hunters.pk,
        None,
        "300.00",
    )
    assert [str(part.value) for part in rows(TargetPart, acme.company).order_by("start")] == ["100.00"] * 3
    assert "Hunters" in text(acme_admin.get(f"{KPIS}{acme.calls_made.pk}/change/"))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"value": "-1"}, "A target is a number ≥ 0 with at most two decimals."),
        ({"start": "2026-10-05"}, "A target starts on the first day of its month, quarter or year."),
        ({"scope": "department"}, "Choose who this target is for."),
        ({"into": "quarter", "method": "even"}, "Break a target down into periods shorter than its own."),
        (
            {"into": "month", "method": "manual", "values": "1 2"},
            "Give 3 values ≥ 0 with at most two decimals",
        ),
    ],
)
def test_target_refusals_are_form_errors(acme_admin, acme, data, message):
    base = {
        "kpi": acme.calls_made.pk,
        "period": "quarter",
        "start": "2026-10-01",
        "value": "300",
        "scope": "company",
    }
    response = acme_admin.post(f"{TARGETS}add/", {**base, **data})
    assert response.status_code == 200
    assert page_has(response, message)
    assert not rows(Target, acme.company).exists()


def test_changing_a_target_and_breaking_it_down_by_hand(acme_admin, acme):
    with company_context(acme.company.id):
        target = make_target(
            kpi=acme.calls_made, period="quarter", start=__import__("datetime").date(2026, 10, 1)
        )
    url = f"{TARGETS}{target.pk}/change/"
    assert acme_admin.post(url, {"value": "150"}).status_code == 302
    assert str(reload(target, acme.company).value) == "150.00"
    refused = acme_admin.post(
        url, {"value": "150", "into": "month", "method": "manual", "values": "50 50 40"}
    )
    assert page_has(refused, "The parts add up to 140.00, not to the target 150.00.")
    done = acme_admin.post(url, {"value": "150", "into": "month", "method": "manual", "values": "50 50 50"})
    assert done.status_code == 302
    assert [str(part.value) for part in rows(TargetPart, acme.company).order_by("start")] == ["50.00"] * 3
    page = text(acme_admin.get(url))
    assert "kpi-parts" in page


def test_deleting_a_target_goes_through_the_service(acme_admin, acme):
    with company_context(acme.company.id):
        target = make_target(kpi=acme.calls_made)
    response = acme_admin.post(f"{TARGETS}{target.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not rows(Target, acme.company).exists()
    assert rows(Change, acme.company).filter(object_type="target", action="deleted").exists()


# --- Archive instead of delete ------------------------------------------------------------------------


def test_kpis_are_archived_by_an_action_and_never_deleted(acme_admin, acme):
    assert acme_admin.post(f"{KPIS}{acme.demos.pk}/delete/", {"post": "yes"}).status_code == 403
    assert "delete_selected" not in text(acme_admin.get(KPIS))
    response = acme_admin.post(KPIS, {"action": "archive", "_selected_action": [acme.demos.pk], "index": 0})
    assert response.status_code == 302
    kpi = reload(acme.demos, acme.company)
    assert kpi.archived_at is not None
    assert "Archived 1 KPI." in messages_of(acme_admin)
    assert rows(Change, acme.company).filter(object_id=acme.demos.pk, action="archived").exists()


# --- History (K10) ---------------------------------------------------------------------------------


def test_the_kpi_history_shows_the_services_changes(acme_admin, acme):
    acme_admin.post(
        f"{KPIS}{acme.calls_made.pk}/change/",
        kpi_form_of(acme.calls_made, acme.calls, name_en="Outbound calls"),
    )
    with company_context(acme.company.id):
        make_target(kpi=acme.calls_made, value="70")
    page = text(acme_admin.get(f"{KPIS}{acme.calls_made.pk}/history/"))
    assert "Outbound calls" in page
    assert re.search(
        r'kpi-history-old">Calls made</span>.*?kpi-history-new">Outbound calls</span>', page, re.S
    )
    assert "Created: Target" in page
    assert str(acme.admin) in page
    assert "System" in page  # the fixture's creation, made by no one


def test_the_unit_history_shows_the_services_changes(acme_admin, acme):
    acme_admin.post(f"{UNITS}{acme.calls.pk}/change/", {"name_en": "dials", "name_ru": "звонки"})
    page = text(acme_admin.get(f"{UNITS}{acme.calls.pk}/history/"))
    assert re.search(r'kpi-history-old">calls</span>.*?kpi-history-new">dials</span>', page, re.S)
    assert "Created" in page


def test_the_target_history_shows_the_services_changes(acme_admin, acme):
    with company_context(acme.company.id):
        target = make_target(kpi=acme.calls_made)
        services.target_update(target=target, value="120")
    page = text(acme_admin.get(f"{TARGETS}{target.pk}/history/"))
    assert re.search(r'kpi-history-old">100.00</span>.*?kpi-history-new">120.00</span>', page, re.S)


# --- The list ------------------------------------------------------------------------------------------


def test_the_kpi_list_shows_the_definition_at_a_glance(acme_admin, acme):
    page = text(acme_admin.get(KPIS))
    for column in ["Calls made", "calls_made", "calls", "Primary", "Company", "Active", "10 = 2", "Hidden"]:
        assert column in page, column


@pytest.mark.parametrize(
    ("query", "found"), [("вонки", "Calls made"), ("DEMOS", "Demos"), ("calls_", "Calls made")]
)
def test_the_kpi_list_searches_every_language_and_the_integration_name(acme_admin, acme, query, found):
    page = text(acme_admin.get(KPIS, {"q": query}))
    assert found in page
    assert page.count('name="_selected_action"') == 1


def test_the_kpi_list_filters(acme_admin, acme):
    assert "Demos" not in text(acme_admin.get(KPIS, {"status__exact": "active"}))
    assert "Calls made" not in text(acme_admin.get(KPIS, {"in_rating__exact": "0"}))
    assert "Demos" not in text(acme_admin.get(KPIS, {"unit__id__exact": acme.calls.pk}))


def test_the_kpi_list_runs_a_constant_number_of_queries(acme_admin, acme):
    acme_admin.get(KPIS)
    with CaptureQueriesContext(connection) as few:
        acme_admin.get(KPIS)
    with company_context(acme.company.id):
        for n in range(5):
            make_kpi(level="team", team=acme.hunters, unit=acme.calls, description={"en": f"terms {n}"})
    with CaptureQueriesContext(connection) as many:
        acme_admin.get(KPIS)
    assert len(many) == len(few), [query["sql"] for query in many.captured_queries]


def test_every_kpi_admin_page_renders(acme_admin, acme):
    with company_context(acme.company.id):
        target = make_target(kpi=acme.calls_made)
        services.kpi_hide(kpi=acme.calls_made, department=acme.support)
    urls = [
        KPIS,
        f"{KPIS}?_facets=True",
        f"{KPIS}?archived=yes",
        f"{KPIS}add/",
        UNITS,
        f"{UNITS}add/",
        f"{UNITS}add/?_to_field=id&_popup=1",
        TARGETS,
        f"{TARGETS}?_facets=True",
        f"{TARGETS}add/",
        f"{TARGETS}add/?kpi={acme.calls_made.pk}",
        "/admin/kpis/",
    ]
    for kpi in [acme.calls_made, acme.demos]:
        urls += [f"{KPIS}{kpi.pk}/change/", f"{KPIS}{kpi.pk}/history/", f"{KPIS}{kpi.pk}/access/"]
    urls += [
        f"{UNITS}{acme.calls.pk}/change/",
        f"{UNITS}{acme.calls.pk}/history/",
        f"{UNITS}{acme.points.pk}/delete/",
    ]
    urls += [
        f"{TARGETS}{target.pk}/change/",
        f"{TARGETS}{target.pk}/history/",
        f"{TARGETS}{target.pk}/delete/",
    ]
    for url in urls:
        response = acme_admin.get(url)
        assert response.status_code == 200, url


# --- Isolation: nothing of another company (O2) -----------------------------------------------------


@pytest.mark.parametrize(
    "url", [KPIS, UNITS, TARGETS, f"{KPIS}add/", f"{TARGETS}add/", f"{KPIS}?_facets=True"]
)
def test_lists_and_forms_show_only_the_admins_company(globex_admin, acme, globex, url):
    response = globex_admin.get(url)
    assert response.status_code == 200
    assert_no_names(response, ACME_NAMES)


def test_another_companys_objects_are_not_found_on_every_page(globex_admin, acme, globex):
    with company_context(acme.company.id):
        target = make_target(kpi=acme.calls_made)
    urls = []
    for kpi in [acme.calls_made, acme.demos]:
        urls += [f"{KPIS}{kpi.pk}/change/", f"{KPIS}{kpi.pk}/history/", f"{KPIS}{kpi.pk}/access/"]
    urls += [f"{UNITS}{acme.calls.pk}/{page}/" for page in ["change", "history", "delete"]]
    urls += [f"{TARGETS}{target.pk}/{page}/" for page in ["change", "history", "delete"]]
    for url in urls:
        response = globex_admin.get(url)
        assert_not_found_redirect(response)
        landing = globex_admin.get(response.url)
        assert "doesn’t exist" in text(landing), url
        assert_no_names(landing, ACME_NAMES)


def test_posting_to_another_companys_objects_changes_and_deletes_nothing(globex_admin, acme, globex):
    with company_context(acme.company.id):
        target = make_target(kpi=acme.calls_made)
    posts = [
        (
            f"{KPIS}{acme.calls_made.pk}/change/",
            kpi_data(SimpleNamespace(points=globex.points), name_en="Hacked"),
        ),
        (f"{KPIS}{acme.calls_made.pk}/access/", {"mode": "chosen", "teams": [globex.team.pk]}),
        (
            f"{KPIS}{acme.calls_made.pk}/hides/",
            {"action": "hide", "unit": f"department:{globex.department.pk}"},
        ),
        (f"{UNITS}{acme.calls.pk}/change/", {"name_en": "hacked"}),
        (f"{UNITS}{acme.calls.pk}/delete/", {"post": "yes"}),
        (f"{TARGETS}{target.pk}/change/", {"value": "1"}),
        (f"{TARGETS}{target.pk}/delete/", {"post": "yes"}),
    ]
    for url, data in posts:
        assert_not_found_redirect(globex_admin.post(url, data))
    globex_admin.post(KPIS, {"action": "archive", "_selected_action": [acme.calls_made.pk], "index": 0})
    # then Acme's rows are as they were
    kpi = reload(acme.calls_made, acme.company)
    assert (kpi.name_en, kpi.status, kpi.archived_at) == ("Calls made", "active", None)
    assert reload(acme.calls, acme.company).name_en == "calls"
    assert str(reload(target, acme.company).value) == "100.00"
    assert not rows(KpiAudience, acme.company).exists()
    assert not rows(KpiHide, acme.company).exists()


def test_form_choices_offer_only_the_admins_company(globex_admin, acme, globex):
    kpi_form = globex_admin.get(f"{KPIS}add/")
    target_form = globex_admin.get(f"{TARGETS}add/")
    assert select_options(kpi_form, "unit") == {str(globex.points.pk), str(globex.widgets.pk)}
    assert select_options(kpi_form, "department") == {str(globex.department.pk)}
    assert select_options(kpi_form, "team") == {str(globex.team.pk)}
    assert select_options(target_form, "kpi") == {str(globex.kpi.pk)}
    assert select_options(target_form, "user") == {str(globex.admin.pk), str(globex.person.pk)}


@pytest.mark.parametrize(
    "overrides_of",
    [
        lambda acme: {"unit": acme.calls.pk},
        lambda acme: {"level": "department", "department": acme.sales.pk},
        lambda acme: {"level": "team", "team": acme.hunters.pk},
        lambda acme: {"owner": acme.alice.pk},
    ],
)
def test_picking_another_companys_row_in_the_kpi_form_is_refused(globex_admin, acme, globex, overrides_of):
    kpis = rows(Kpi, globex.company).count()
    data = kpi_data(
        SimpleNamespace(points=globex.points), name_ru=None, description_ru=None, **overrides_of(acme)
    )
    response = globex_admin.post(f"{KPIS}add/", data)
    assert response.status_code == 200
    assert "Select a valid choice" in text(response)
    assert rows(Kpi, globex.company).count() == kpis
    assert_no_names(response, ACME_NAMES)


def test_picking_another_companys_rows_for_a_target_is_refused(globex_admin, acme, globex):
    base = {"period": "month", "start": "2026-11-01", "value": "10", "scope": "company", "kpi": globex.kpi.pk}
    for data in [
        {"kpi": acme.calls_made.pk},
        {"scope": "department", "department": acme.sales.pk},
        {"scope": "team", "team": acme.hunters.pk},
        {"scope": "user", "user": acme.alice.pk},
    ]:
        response = globex_admin.post(f"{TARGETS}add/", {**base, **data})
        assert response.status_code == 200, data
        assert "Select a valid choice" in text(response), data
    assert rows(Target, globex.company).count() == 1
    assert not rows(Target, acme.company).exists()


def test_linking_to_another_companys_kpi_is_refused(globex_admin, acme, globex):
    response = globex_admin.post(
        f"{KPIS}add/",
        kpi_data(
            SimpleNamespace(points=globex.points),
            name_ru=None,
            description_ru=None,
            description_en=f"[calls](internal:kpis/{acme.calls_made.pk})",
        ),
    )
    assert response.status_code == 200
    assert page_has(response, f"The linked KPI {acme.calls_made.pk} does not exist.")
    assert not rows(Kpi, globex.company).filter(integration_name="deals_closed").exists()


def test_the_kpi_search_and_preview_show_nothing_of_another_company(globex_admin, acme, globex):
    for query in ["Calls", "звонки", "calls_made", str(acme.calls_made.pk), ""]:
        results = globex_admin.get(f"{KPIS}search/", {"q": query}).json()["results"]
        assert acme.calls_made.pk not in [item["id"] for item in results], query
        assert acme.demos.pk not in [item["id"] for item in results], query
    preview = globex_admin.post(
        f"{KPIS}preview/", {"text": f"[x](internal:kpis/{acme.calls_made.pk})"}
    ).json()
    assert preview["errors"] == [f"The linked KPI {acme.calls_made.pk} does not exist."]


@pytest.mark.parametrize(
    ("model_name", "field_name", "expected_of"),
    [
        ("kpi", "unit", lambda globex: {globex.points.pk, globex.widgets.pk}),
        ("target", "kpi", lambda globex: {globex.kpi.pk}),
        ("kpi", "owner", lambda globex: {globex.admin.pk, globex.person.pk}),
    ],
)
def test_autocomplete_returns_only_the_admins_company(
    globex_admin, acme, globex, model_name, field_name, expected_of
):
    url = f"/admin/autocomplete/?app_label=kpis&model_name={model_name}&field_name={field_name}"
    # when the admin looks rows up, with no term and with the other company's names
    everything = globex_admin.get(url)
    # then only their company's rows come back
    assert everything.status_code == 200
    assert {int(result["id"]) for result in everything.json()["results"]} == expected_of(globex)
    for term in ["calls", "Calls made", "alice", "points"]:
        found = {int(result["id"]) for result in globex_admin.get(f"{url}&term={term}").json()["results"]}
        assert found <= expected_of(globex), term


def test_list_filters_offer_only_the_admins_units_and_kpis(globex_admin, acme, globex):
    with company_context(globex.company.id):
        other = make_kpi(name={"en": "Globex Orders"})
    kpis = text(globex_admin.get(KPIS))
    targets = text(globex_admin.get(TARGETS))
    assert set(re.findall(r"unit__id__exact=(\d+)", kpis)) == {str(globex.points.pk), str(globex.widgets.pk)}
    assert set(re.findall(r"kpi__id__exact=(\d+)", targets)) == {str(globex.kpi.pk), str(other.pk)}
    for url in [f"{KPIS}?unit__id__exact={acme.calls.pk}", f"{TARGETS}?kpi__id__exact={acme.calls_made.pk}"]:
        response = globex_admin.get(url)
        assert 'name="_selected_action"' not in text(response), url
        assert_no_names(response, ACME_NAMES)


def test_the_admins_own_hides_and_audience_pages_do_not_show_another_company(acme_admin, acme, globex):
    for url in [
        f"{KPIS}{acme.calls_made.pk}/change/",
        f"{KPIS}{acme.calls_made.pk}/access/",
        KPIS,
        UNITS,
        TARGETS,
    ]:
        assert_no_names(acme_admin.get(url), GLOBEX_NAMES)


# --- The link dialog's sections and audience warning (K7) --------------------------------------------


def test_the_link_dialog_finds_each_section_by_name_or_id_and_never_another_companys(
    acme_admin, acme, globex, django_assert_max_num_queries
):
    def found(section: str, query: str) -> list[int]:
        response = acme_admin.get(f"{KPIS}search/", {"section": section, "q": query})
        assert response.status_code == 200
        return [item["id"] for item in response.json()["results"]]

    # the company's own pages, by name and by id
    assert found("dashboards/company", "acm") == [acme.company.pk]
    assert found("leaderboard/company", str(acme.company.pk)) == [acme.company.pk]
    assert found("dashboards/departments", "sal") == [acme.sales.pk]
    assert found("leaderboard/departments", str(acme.support.pk)) == [acme.support.pk]
    assert found("dashboards/teams", "hunt") == [acme.hunters.pk]
    assert found("leaderboard/teams", "Sales") == [acme.farmers.pk, acme.hunters.pk]  # by department
    assert found("people", "alice@") == [acme.alice.user_id]
    assert found("people", str(acme.carol.user_id)) == [acme.carol.user_id]
    # and nothing of Globex's, by name or id
    for section, theirs in [
        ("dashboards/company", globex.company.pk),
        ("dashboards/departments", globex.department.pk),
        ("leaderboard/departments", globex.department.pk),
        ("dashboards/teams", globex.team.pk),
        ("leaderboard/teams", globex.team.pk),
        ("people", globex.person.user_id),
        ("kpis", globex.kpi.pk),
    ]:
        assert found(section, "Globex") == []
        assert theirs not in found(section, str(theirs)), section
    # an unknown section is a clear 400, not a 500
    response = acme_admin.get(f"{KPIS}search/", {"section": "secret", "q": "x"})
    assert response.status_code == 400
    assert response.json()["error"] == "Choose a section."
    # and the search reads a fixed number of queries, however many people match
    with django_assert_max_num_queries(12):
        found("people", "")


def test_the_link_dialog_warns_before_saving_when_a_target_is_narrower(acme_admin, acme, globex):
    def audience(**query) -> tuple[int, dict]:
        response = acme_admin.get(f"{KPIS}link-audience/", query)
        return response.status_code, response.json()

    # Calls made reaches the whole company: Hunters' dashboard leaves out Bob, Carol (and others)
    status, data = audience(section="dashboards/teams", id=acme.hunters.pk, kpi=acme.calls_made.pk)
    assert status == 200
    assert data["warning"].endswith(
        "cannot open the link to “Team dashboard: Sales / Hunters”: its audience is narrower."
    )
    # the company's leaderboard is everyone's: no warning
    assert audience(section="leaderboard/company", id=acme.company.pk, kpi=acme.calls_made.pk) == (
        200,
        {"warning": None},
    )
    # a new KPI of the Hunters (as the form now says) may link their dashboard without a warning
    assert audience(section="dashboards/teams", id=acme.hunters.pk, level="team", team=acme.hunters.pk) == (
        200,
        {"warning": None},
    )
    # another company's target is refused, like one that does not exist
    for section, theirs in [("dashboards/teams", globex.team.pk), ("people", globex.person.user_id)]:
        status, data = audience(section=section, id=theirs, kpi=acme.calls_made.pk)
        assert status == 404
        assert data["error"] == "This page is not one of your company's: choose another."
    # junk is a 400 with a message
    assert audience(section="people", id="x")[0] == 400
