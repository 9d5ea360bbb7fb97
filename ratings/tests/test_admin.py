"""The KPI actions admin (PRODUCT R1–R5, O2, O4): company admins record actions through the one
service, see every refusal of the service on the form, never edit an action but void it, and see,
pick and void nothing of another company."""

import datetime
import html
import re
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kpis.tests.factories import make_active_kpi, make_kpi
from orgs import services as org_services
from orgs.models import Role, User
from orgs.tenancy import company_context
from orgs.tests.admin_pages import assert_not_found_redirect, reload
from ratings import services
from ratings.models import KpiAction, RatingTotal, Recalculation

ACTIONS = "/admin/ratings/kpiaction/"
ADD = f"{ACTIONS}add/"
AUTOCOMPLETE = "/admin/autocomplete/"
GLOBEX_NAMES = [
    "Zed",
    "Globexian",
    "zed@globex.example",
    "Globex Secret KPI",
    "globex-secret-1",
    "Globex note",
]


# --- Fixtures and helpers --------------------------------------------------------------------------


@pytest.fixture
def acme(company, admin_member, make_member):
    """Acme: Sales (team Hunters) and Support; Alice in Hunters, Carol in Support; KPIs "Calls"
    (company, 5 calls = 1 point), "Deals" (Sales only, 1 = 10) and "Drafts" (Hidden)."""
    with company_context(company.id):
        sales = org_services.department_create(name="Sales")
        support = org_services.department_create(name="Support")
        hunters = org_services.team_create(name="Hunters", department=sales)
    alice = make_member(
        company, first_name="Alice", last_name="Archer", email="alice@acme.example", team=hunters
    )
    carol = make_member(
        company, first_name="Carol", last_name="Cole", email="carol@acme.example", department=support
    )
    with company_context(company.id):
        calls = make_active_kpi(
            company,
            name={"en": "Calls", "ru": "Звонки"},
            integration_name="calls",
            in_rating=True,
            rating_units="5",
            rating_points=1,
        )
        deals = make_active_kpi(
            company,
            name={"en": "Deals", "ru": "Сделки"},
            integration_name="deals",
            level="department",
            department=sales,
            in_rating=True,
            rating_units="1",
            rating_points=10,
        )
        drafts = make_kpi(name={"en": "Drafts"}, integration_name="drafts")
    return SimpleNamespace(
        company=company, admin=admin_member, sales=sales, hunters=hunters, alice=alice, carol=carol,
        calls=calls, deals=deals, drafts=drafts,
    )  # fmt: skip


@pytest.fixture
def globex(other_company, other_admin_member, make_member):
    """Globex: Zed, a KPI and one recorded action."""
    zed = make_member(other_company, first_name="Zed", last_name="Globexian", email="zed@globex.example")
    with company_context(other_company.id):
        kpi = make_active_kpi(
            other_company, name={"en": "Globex Secret KPI"}, integration_name="globex_secret"
        )
        services.actions_record(
            items=[
                {
                    "kpi": kpi,
                    "user": zed,
                    "value": "7",
                    "external_id": "globex-secret-1",
                    "comment": "Globex note",
                }
            ]
        )
        action = KpiAction.objects.get()
    return SimpleNamespace(company=other_company, admin=other_admin_member, zed=zed, kpi=kpi, action=action)


@pytest.fixture
def acme_admin(client, acme):
    client.force_login(acme.admin.user)
    return client


def record(acme, **item) -> KpiAction:
    item = {"kpi": acme.calls, "user": acme.alice, "value": "10", **item}
    with company_context(acme.company.id):
        result = services.actions_record(items=[item])
        return KpiAction.objects.select_related("kpi").get(id=result.results[0]["id"])


def actions_of(company) -> list[KpiAction]:
    with company_context(company.id):
        return list(KpiAction.objects.order_by("id"))


def text(response) -> str:
    return html.unescape(response.content.decode())


def assert_no_names(response, names=GLOBEX_NAMES) -> None:
    page = text(response)
    assert [name for name in names if name in page] == []


# An hour ago, fixed once: two forms filled in by a test describe the same moment even when a
# second ticks between them (the same external id with another time is a conflict, not a duplicate).
AN_HOUR_AGO = timezone.localtime(
    timezone.now() - datetime.timedelta(hours=1), datetime.timezone(datetime.timedelta(hours=3))
)


def form_data(acme, **overrides) -> dict:
    now = AN_HOUR_AGO
    data = {
        "member": acme.alice.pk,
        "kpi": acme.calls.pk,
        "value": "12",
        "occurred_at_0": now.strftime("%Y-%m-%d"),
        "occurred_at_1": now.strftime("%H:%M:%S"),
        "comment": "",
        "external_id": "",
        "_save": "Save",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def field_errors(response) -> dict[str, list[str]]:
    form = response.context["adminform"].form
    return {name: [str(message) for message in messages] for name, messages in form.errors.items()}


# --- The list ------------------------------------------------------------------------------------------


def test_the_list_shows_who_what_how_much_and_where_from(acme_admin, acme):
    # given two actions, one of them voided
    record(acme, value="10", external_id="crm-1")
    voided = record(acme, kpi=acme.deals, value="2")
    with company_context(acme.company.id):
        services.action_void(action=voided, reason="typo")
    # when the admin opens the list
    response = acme_admin.get(ACTIONS)
    # then each row shows the person, the KPI, the value, the points and the voided mark
    assert response.status_code == 200
    page = text(response)
    for expected in [
        "Alice Archer",
        "alice@acme.example",
        "Calls",
        "Deals",
        "crm-1",
        "2.00",
        "20.00",
        "voided",
    ]:
        assert expected in page, expected
    assert page.count(">Void…</a>") == 1  # on the row still counting
    assert "Void selected actions…" in page


def test_filters_and_search_find_the_companys_actions(acme_admin, acme):
    record(acme, value="10", comment="cold call to Initech")
    record(acme, kpi=acme.deals, value="1", external_id="crm-77")
    by_kpi = acme_admin.get(ACTIONS, {"kpi__id__exact": acme.deals.pk})
    assert by_kpi.context["cl"].result_count == 1
    assert acme_admin.get(ACTIONS, {"q": "initech"}).context["cl"].result_count == 1
    assert acme_admin.get(ACTIONS, {"q": "crm-77"}).context["cl"].result_count == 1
    assert acme_admin.get(ACTIONS, {"q": "alice@acme"}).context["cl"].result_count == 2
    assert acme_admin.get(ACTIONS, {"voided": "yes"}).context["cl"].result_count == 0
    assert acme_admin.get(ACTIONS, {"source__exact": "api"}).context["cl"].result_count == 2


def test_the_list_runs_a_constant_number_of_queries(acme_admin, acme):
    record(acme)
    with CaptureQueriesContext(connection) as one:
        assert acme_admin.get(ACTIONS).status_code == 200
    for number in range(15):
        record(acme, value=str(number), external_id=f"n-{number}")
    with CaptureQueriesContext(connection) as many:
        assert acme_admin.get(ACTIONS).status_code == 200
    assert len(many.captured_queries) == len(one.captured_queries)


# --- Recording (R3) -------------------------------------------------------------------------------------


def test_recording_an_action_goes_through_the_service(acme_admin, acme):
    # when the admin records 12 calls for Alice with an external id
    response = acme_admin.post(ADD, form_data(acme, external_id="desk-9", comment="from the phone log"))
    # then one action is recorded as a manual entry by the admin, with its points (R2)
    assert response.status_code == 302, field_errors(response)
    [action] = actions_of(acme.company)
    assert (action.member_id, action.kpi_id, action.value, action.points) == (
        acme.alice.pk, acme.calls.pk, Decimal("12.00"), Decimal("2.40")
    )  # fmt: skip
    assert (action.source, action.recorded_by_id, action.external_id) == ("manual", acme.admin.pk, "desk-9")
    with company_context(acme.company.id):
        assert RatingTotal.objects.get(member_id=acme.alice.pk, period="all").points == Decimal("2.40")


def test_the_form_offers_only_active_kpis_and_defaults_to_now(acme_admin, acme):
    response = acme_admin.get(ADD)
    assert response.status_code == 200
    select = re.search(r'<select name="kpi"[^>]*>(.*?)</select>', text(response), re.S).group(1)
    kpi_choices = {value for value in re.findall(r'<option value="([^"]*)"', select) if value}
    assert kpi_choices == {str(acme.calls.pk), str(acme.deals.pk)}
    assert response.context["adminform"].form.initial["occurred_at"] is not None


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"value": "1.005"}, "value", "A value is a number ≥ 0 with at most two decimal places."),
        ({"value": "-3"}, "value", "A value is a number ≥ 0 with at most two decimal places."),
        # issue 17: the service's one parser reads the text; a DecimalField took these as numbers
        ({"value": "1_000"}, "value", "A value is a number ≥ 0 with at most two decimal places."),
        ({"value": "٣"}, "value", "A value is a number ≥ 0 with at most two decimal places."),
        ({"value": "-0"}, "value", "A value is a number ≥ 0 with at most two decimal places."),
        ({"kpi": "drafts"}, "kpi", "The KPI “drafts” is hidden and accepts no actions."),
        ({"kpi": "deals", "member": "carol"}, "member", "This person does not receive the KPI “deals”."),
        ({"occurred_at_0": "2099-01-01"}, "occurred_at", "not more than a day ahead"),
        ({"external_id": "crm-1", "value": "99"}, "external_id", "exists with different content"),
        ({"external_id": "crm-1"}, "external_id", "already recorded with the external id “crm-1”"),
    ],
)
def test_every_refusal_of_the_service_is_a_form_error_and_nothing_is_written(
    acme_admin, acme, overrides, field, message
):
    # given an action recorded by the same form with the external id crm-1
    assert acme_admin.post(ADD, form_data(acme, external_id="crm-1")).status_code == 302
    before = [action.id for action in actions_of(acme.company)]
    objects = {"drafts": acme.drafts.pk, "deals": acme.deals.pk, "carol": acme.carol.pk}
    data = form_data(acme, **{key: objects.get(value, value) for key, value in overrides.items()})
    # when the form is posted with what the service refuses
    response = acme_admin.post(ADD, data)
    # then the form shows the service's message next to the field, and nothing was recorded
    assert response.status_code == 200
    errors = field_errors(response)
    assert any(message in error for error in errors.get(field, [])), errors
    assert [action.id for action in actions_of(acme.company)] == before


# --- Never edited, only voided (R5) -------------------------------------------------------------------


def test_an_action_cannot_be_changed_or_deleted(acme_admin, acme):
    action = record(acme, value="10")
    page = acme_admin.get(f"{ACTIONS}{action.pk}/change/")
    assert page.status_code == 200
    assert 'name="value"' not in text(page)
    assert "never edited" in text(page)
    assert f"{ACTIONS}{action.pk}/void/" in text(page)
    assert acme_admin.post(f"{ACTIONS}{action.pk}/change/", form_data(acme, value="1")).status_code == 403
    assert acme_admin.post(f"{ACTIONS}{action.pk}/delete/", {"post": "yes"}).status_code == 403
    assert reload(action, acme.company).value == Decimal("10.00")


def test_voiding_an_action_asks_why_and_records_who(acme_admin, acme):
    action = record(acme, value="10")
    url = f"{ACTIONS}{action.pk}/void/"
    assert 'name="reason"' in text(acme_admin.get(url))
    # an empty reason: the service's message, nothing voided
    response = acme_admin.post(url, {"reason": " "})
    assert response.status_code == 200
    assert "Say why the action is voided." in text(response)
    assert reload(action, acme.company).voided_at is None
    # with a reason
    response = acme_admin.post(url, {"reason": "Logged twice"})
    assert response.status_code == 302
    voided = reload(action, acme.company)
    assert (voided.void_reason, voided.voided_by_id) == ("Logged twice", acme.admin.pk)
    with company_context(acme.company.id):
        assert RatingTotal.objects.get(member_id=acme.alice.pk, period="all").points == Decimal("0.00")
    # and its page says so, without the void button
    page = text(acme_admin.get(f"{ACTIONS}{action.pk}/change/"))
    assert "Logged twice" in page
    assert f"{ACTIONS}{action.pk}/void/" not in page


def test_several_actions_are_voided_with_one_reason(acme_admin, acme):
    first, second = record(acme, value="10"), record(acme, value="5")
    selection = {"action": "void_selected", "_selected_action": [first.pk, second.pk]}
    # the action asks for the reason first
    page = acme_admin.post(ACTIONS, selection)
    assert page.status_code == 200
    assert 'name="reason"' in text(page)
    assert "These 2 actions" in text(page)
    assert reload(first, acme.company).voided_at is None
    # then voids both
    response = acme_admin.post(ACTIONS, {**selection, "apply": "yes", "reason": "Wrong week"})
    assert response.status_code == 302
    assert [action.void_reason for action in actions_of(acme.company)] == ["Wrong week", "Wrong week"]


# --- Who gets in (O4) --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.MANAGER, Role.LEAD, Role.MEMBER])
def test_managers_leads_and_members_get_the_login_page(client, acme, make_member, role):
    action = record(acme)
    client.force_login(make_member(acme.company, role).user)
    for url in [ACTIONS, ADD, f"{ACTIONS}{action.pk}/change/", f"{ACTIONS}{action.pk}/void/"]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith("/admin/login/"), url


def test_a_staff_manager_without_the_admin_role_is_refused(client, acme, make_member):
    action = record(acme)
    manager = make_member(acme.company, Role.MANAGER)
    User.objects.filter(pk=manager.user.pk).update(is_staff=True)
    client.force_login(manager.user)
    for url in [ACTIONS, ADD, f"{ACTIONS}{action.pk}/change/", f"{ACTIONS}{action.pk}/void/"]:
        assert client.get(url).status_code == 403, url
    assert client.post(f"{ACTIONS}{action.pk}/void/", {"reason": "x"}).status_code == 403
    assert client.post(ADD, form_data(acme)).status_code == 403
    assert reload(action, acme.company).voided_at is None
    assert len(actions_of(acme.company)) == 1


# --- Another company (O2) ----------------------------------------------------------------------------


def test_another_companys_actions_are_not_in_the_list_filters_or_search(acme_admin, acme, globex):
    record(acme)
    for params in [{}, {"q": "globex"}, {"q": "zed"}, {"kpi__id__exact": globex.kpi.pk}]:
        response = acme_admin.get(ACTIONS, params)
        assert response.status_code in (200, 302)
        if response.status_code == 200:
            assert_no_names(response)
            assert all(row.company_id == acme.company.id for row in response.context["cl"].result_list)
    filters = {spec.title: spec for spec in acme_admin.get(ACTIONS).context["cl"].filter_specs}
    kpi_choices = {str(pk) for pk, _label in filters["KPI"].lookup_choices}
    assert str(globex.kpi.pk) not in kpi_choices
    assert str(acme.calls.pk) in kpi_choices


def test_another_companys_action_is_not_found_on_its_pages(acme_admin, acme, globex):
    for url in [f"{ACTIONS}{globex.action.pk}/change/", f"{ACTIONS}{globex.action.pk}/void/"]:
        assert_not_found_redirect(acme_admin.get(url))
    assert_not_found_redirect(acme_admin.post(f"{ACTIONS}{globex.action.pk}/void/", {"reason": "hack"}))
    assert reload(globex.action, globex.company).voided_at is None


def test_the_void_action_ignores_another_companys_actions(acme_admin, acme, globex):
    mine = record(acme)
    selection = {"action": "void_selected", "_selected_action": [mine.pk, globex.action.pk]}
    page = acme_admin.post(ACTIONS, selection)
    assert "This action will stay" in text(page)  # one action: Acme's
    assert_no_names(page)
    acme_admin.post(ACTIONS, {**selection, "apply": "yes", "reason": "hack"})
    assert reload(mine, acme.company).voided_at is not None
    assert reload(globex.action, globex.company).voided_at is None


def test_the_person_autocomplete_shows_only_the_companys_people(acme_admin, acme, globex):
    params = {"app_label": "ratings", "model_name": "kpiaction", "field_name": "member"}
    response = acme_admin.get(AUTOCOMPLETE, {**params, "term": "zed"})
    assert response.status_code == 200
    assert response.json()["results"] == []
    found = acme_admin.get(AUTOCOMPLETE, {**params, "term": "alice"}).json()["results"]
    assert [row["id"] for row in found] == [str(acme.alice.pk)]


@pytest.mark.parametrize("field", ["member", "kpi"])
def test_another_companys_person_or_kpi_cannot_be_picked(acme_admin, acme, globex, field):
    theirs = {"member": globex.zed.pk, "kpi": globex.kpi.pk}[field]
    response = acme_admin.post(ADD, form_data(acme, **{field: theirs}))
    assert response.status_code == 200
    assert "Select a valid choice" in " ".join(field_errors(response)[field])
    assert actions_of(acme.company) == []
    assert len(actions_of(globex.company)) == 1


# --- Recalculation (R2) ----------------------------------------------------------------------------------


def test_kpis_are_recalculated_from_the_kpi_list_with_a_link_to_the_progress(
    acme_admin, acme, globex, django_capture_on_commit_callbacks
):
    # when the admin recalculates Calls from the KPI list (the worker is not run here)
    with django_capture_on_commit_callbacks(execute=False):
        response = acme_admin.post(
            "/admin/kpis/kpi/",
            {"action": "recalculate_points", "_selected_action": [acme.calls.pk, globex.kpi.pk]},
        )
    assert response.status_code == 302
    # then one recalculation of Acme's KPI is queued, and the message links to its progress page
    with company_context(acme.company.id):
        [recalculation] = Recalculation.objects.all()
    assert (recalculation.kpi_id, recalculation.requested_by_id) == (acme.calls.pk, acme.admin.pk)
    page = text(acme_admin.get("/admin/"))
    assert re.search(r"Recalculating the points of .Calls. in the background", page)
    progress = f"/admin/ratings/recalculation/{recalculation.pk}/change/"
    assert progress in page
    detail = acme_admin.get(progress)
    assert detail.status_code == 200
    assert "Queued" in text(detail)
    with company_context(globex.company.id):
        assert not Recalculation.objects.exists()


def test_another_companys_recalculation_is_not_found(acme_admin, acme, globex):
    with company_context(globex.company.id):
        theirs = services.recalculation_start(kpi=globex.kpi, actor=None)
    assert_not_found_redirect(acme_admin.get(f"/admin/ratings/recalculation/{theirs.pk}/change/"))
    assert_no_names(acme_admin.get("/admin/ratings/recalculation/"))
