"""The company settings page (PRODUCT O7, O1, D5, K6; API.md "Pages": ``/organization/settings/``):
a company admin changes their own company's settings in the browser, through the service the API
uses; each change goes into the history (K10); a new language lists what misses a translation; a
language that content uses is removed only after a confirmation."""

import datetime
import zoneinfo

import pytest

from kpis.models import Change, Kpi, KpiStatus
from kpis.selectors import kpi_list_for_member
from kpis.tests.factories import make_active_kpi, make_kpi, make_unit
from orgs.models import Company
from orgs.services import company_update
from orgs.tenancy import company_context
from ratings.models import KpiAction
from ratings.services import actions_record
from ratings.tests.pages_org import build_org

URL = "/organization/settings/"
MOSCOW = zoneinfo.ZoneInfo("Europe/Moscow")


@pytest.fixture
def org(company, make_member):
    return build_org(company, make_member)


def settings_of(company: Company, **changes) -> dict:
    """The form as the page shows it for ``company``, with ``changes``."""
    data = {
        "name": company.name,
        "time_zone": company.time_zone,
        "languages": list(company.languages),
        "default_language": company.default_language,
        "primary_frequency": company.primary_frequency,
        "secondary_frequency": company.secondary_frequency,
        "report_frequency": company.report_frequency,
        "report_hour": str(company.report_hour),
    }
    for flag in ("units_define_kpis", "self_reporting"):
        if getattr(company, flag):
            data[flag] = "on"
    data.update(changes)
    return {name: value for name, value in data.items() if value is not None}


def stored(company: Company) -> Company:
    return Company.objects.get(id=company.id)


def errors_of(response) -> dict[str, list[str]]:
    return {name: list(errors) for name, errors in response.context["form"].errors.items()}


# --- Who opens it (O4) ----------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["manager", "lead", "ann"])
def test_managers_leads_and_members_get_403_and_change_nothing(client, org, who):
    # given a manager, a lead or a member of Acme
    client.force_login(getattr(org, who).user)
    # when they open the page, or post to it
    opened = client.get(URL)
    posted = client.post(URL, settings_of(org.company, name="Hijacked", self_reporting="on"))
    # then both answer 403 and the company is as it was
    assert (opened.status_code, posted.status_code) == (403, 403)
    assert (stored(org.company).name, stored(org.company).self_reporting) == ("Acme", False)


def test_the_organization_page_and_its_menu_link_the_settings_for_company_admins_only(client, org):
    for who, links in (("admin", True), ("manager", False), ("lead", False), ("ann", False)):
        client.force_login(getattr(org, who).user)
        html = client.get("/organization/").content.decode()
        assert (f'href="{URL}"' in html) == links, who
    client.force_login(org.admin.user)
    html = client.get(URL).content.decode()
    menu = html.split('class="section-nav pills"')[1].split("</nav>")[0]
    assert 'href="/organization/"' in menu
    assert f'href="{URL}" class="current" aria-current="page"' in menu


# --- Changing the settings, and their history (K10) ---------------------------------------------------


def test_an_admin_changes_every_setting_and_the_history_says_who_when_and_from_what_to_what(
    client, org, time_machine
):
    # given Acme's admin at a fixed moment (12:00 UTC: 15:00 in Moscow, Acme's zone until now)
    moment = datetime.datetime(2026, 11, 18, 12, 0, tzinfo=datetime.UTC)
    time_machine.move_to(moment, tick=False)
    client.force_login(org.admin.user)
    # when they change every setting
    response = client.post(
        URL,
        settings_of(
            org.company,
            name="Acme Holding",
            time_zone="Asia/Tokyo",
            languages=["en", "ru"],
            default_language="ru",
            primary_frequency="quarterly",
            secondary_frequency="daily",
            report_frequency="daily",
            report_hour="18",
            units_define_kpis="on",
            self_reporting="on",
        ),
    )
    # then they are saved
    assert response.status_code == 302
    assert response["Location"] == URL
    company = stored(org.company)
    assert (
        company.name,
        company.time_zone,
        company.languages,
        company.default_language,
        company.primary_frequency,
        company.secondary_frequency,
        company.report_frequency,
        company.report_hour,
        company.units_define_kpis,
        company.self_reporting,
    ) == ("Acme Holding", "Asia/Tokyo", ["en", "ru"], "ru", "quarterly", "daily", "daily", 18, True, True)
    # and the history has one entry: who, when, each field from → to (the unchanged one not)
    with company_context(company.id):
        change = Change.objects.get(object_type="company", object_id=company.id)
    assert (change.actor_id, change.actor_label, change.at) == (org.admin.pk, "Ada Adler", moment)
    assert change.changes == {
        "name": ["Acme", "Acme Holding"],
        "time_zone": ["Europe/Moscow", "Asia/Tokyo"],
        "default_language": ["en", "ru"],
        "primary_frequency": ["monthly", "quarterly"],
        "secondary_frequency": ["weekly", "daily"],
        "units_define_kpis": [False, True],
        "self_reporting": [False, True],
        "report_frequency": ["weekly", "daily"],
        "report_hour": [8, 18],
    }
    # and the page shows it, at the time of the company's new zone (21:00 in Tokyo)
    html = client.get(URL).content.decode()
    history = html.split('id="settings-history"')[1]
    assert "Ada Adler" in history
    assert "11/18/2026 9:00 p.m." in history
    assert "Europe/Moscow → Asia/Tokyo" in history
    assert "Monthly → Quarterly" in history
    assert "8 → 18" in history


def test_saving_the_settings_unchanged_adds_no_history(client, org):
    client.force_login(org.admin.user)
    # the same languages in another order are no change either
    response = client.post(URL, settings_of(org.company, languages=["ru", "en"]))
    assert response.status_code == 302
    with company_context(org.company.id):
        assert not Change.objects.filter(object_type="company").exists()
    assert stored(org.company).languages == ["en", "ru"]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone", "Unknown time zone “Mars/Olympus_Mons”"),
        ({"time_zone": ""}, "time_zone", "This field is required."),
        ({"report_hour": "25"}, "report_hour", "The report's hour is a whole number from 0 to 23."),
        ({"report_hour": "-1"}, "report_hour", "The report's hour is a whole number from 0 to 23."),
        ({"report_hour": "eight"}, "report_hour", "The report's hour is a whole number from 0 to 23."),
        (
            {"languages": ["en"], "default_language": "ru"},
            "default_language",
            "The default language must be one of the enabled languages.",
        ),
        ({"languages": None}, "languages", "Choose at least one language."),
        ({"languages": ["en", "xx"]}, "languages", "Select a valid choice."),
        ({"primary_frequency": "hourly"}, "primary_frequency", "Select a valid choice."),
        ({"name": "  "}, "name", "This field is required."),
        ({"name": "x" * 201}, "name", "Ensure this value has at most 200 characters"),
    ],
)
def test_bad_input_says_what_is_wrong_next_to_the_field_and_saves_nothing(
    client, org, changes, field, message
):
    client.force_login(org.admin.user)
    # when the admin sends a bad value along with a good change
    response = client.post(URL, settings_of(org.company, self_reporting="on", **changes))
    # then the page answers with the message next to the field, and nothing is saved
    assert response.status_code == 200
    assert any(message in error for error in errors_of(response)[field]), errors_of(response)
    assert 'class="setting has-error"' in response.content.decode()
    assert stored(org.company).self_reporting is False
    with company_context(org.company.id):
        assert not Change.objects.filter(object_type="company").exists()


def test_every_bad_value_is_reported_at_once(client, org):
    client.force_login(org.admin.user)
    response = client.post(
        URL,
        settings_of(
            org.company, time_zone="Nowhere", report_hour="25", languages=["en"], default_language="ru"
        ),
    )
    assert set(errors_of(response)) == {"time_zone", "report_hour", "default_language"}


# --- Languages ------------------------------------------------------------------------------------------


def test_enabling_a_language_lists_the_active_kpis_and_units_missing_it_with_links_and_hides_nothing(
    client, company, make_member, django_assert_num_queries
):
    # given an English-only company: Active KPIs and units, a hidden draft, one KPI already in Russian
    from orgs.models import Role

    admin = make_member(company, Role.ADMIN, email="admin@acme.example", first_name="Ada")
    ann = make_member(company, email="ann@acme.example", first_name="Ann")
    with company_context(company.id):
        both = make_active_kpi(company, name={"en": "Deals", "ru": "Сделки"})
        rubles = make_unit(name={"en": "rubles", "ru": "рубли"})
        company_update(company=company, languages=["en"], default_language="en")
        calls = make_active_kpi(company, name={"en": "Calls"}, description={"en": "Calls made."})
        described = make_active_kpi(company, name={"en": "Visits"}, description={"en": "Customer visits."})
        Kpi.objects.filter(id=described.id).update(name_ru="Визиты")  # a name, but no description
        draft = make_kpi(name={"en": "Draft"})
        hours = make_unit(name={"en": "hours"})
        extra = [make_active_kpi(company, name={"en": f"Extra {n}"}) for n in range(20)]
    client.force_login(admin.user)
    # when the admin enables Russian
    response = client.post(URL, settings_of(company, languages=["en", "ru"]), follow=True)
    # then the page warns, and lists the Active KPIs and the units without Russian, with links to
    # edit them: a KPI without a Russian name, one without the Russian description it needs
    html = response.content.decode()
    assert (
        "Russian is enabled. 22 Active KPIs and 1 unit of measurement have no translation in it yet" in html
    )
    missing = html.split('id="missing-translations"')[1].split("</section>")[0]
    for kpi in (calls, described, *extra):
        assert f'<a href="/admin/kpis/kpi/{kpi.id}/change/">' in missing
    assert f'<a href="/admin/kpis/unit/{hours.id}/change/">hours</a>' in missing
    assert f"/admin/kpis/kpi/{both.id}/" not in missing  # complete
    assert f"/admin/kpis/kpi/{draft.id}/" not in missing  # not Active
    assert f"/admin/kpis/unit/{rubles.id}/" not in missing  # and "points", named in Russian at creation
    # and nothing is hidden: the KPIs stay Active and reach their people
    with company_context(company.id):
        assert set(Kpi.objects.filter(id__in=[calls.id, described.id]).values_list("status", flat=True)) == {
            KpiStatus.ACTIVE
        }
        assert {calls.id, described.id} <= {kpi.id for kpi in kpi_list_for_member(ann)}
    # and the page reads them in a fixed number of queries, however many there are: the session,
    # the user, the member, the company, the KPIs missing a text, the units, the history (and the
    # savepoint around the view, two)
    with django_assert_num_queries(9):
        client.get(URL)


def test_removing_a_language_that_content_uses_asks_for_a_confirmation_listing_what_uses_it(client, org):
    client.force_login(org.admin.user)
    with company_context(org.company.id):
        english_only = make_kpi(name={"en": "Only English"})
    # when the admin unticks Russian, which the KPIs and the "points" unit are written in
    first = client.post(URL, settings_of(org.company, languages=["en"], self_reporting="on"))
    # then nothing is saved yet: the page lists what uses Russian, with links, and asks to confirm
    assert first.status_code == 200
    assert stored(org.company).languages == ["en", "ru"]
    assert stored(org.company).self_reporting is False
    confirm = first.content.decode().split('id="confirm-removal"')[1].split("</section>")[0]
    for kpi in (org.calls, org.deals, org.response_time):
        assert f'<a href="/admin/kpis/kpi/{kpi.id}/change/">' in confirm
    assert f"/admin/kpis/kpi/{english_only.id}/" not in confirm
    assert 'name="confirm_removal"' in confirm
    # when they send it again with the box ticked
    second = client.post(
        URL, settings_of(org.company, languages=["en"], self_reporting="on", confirm_removal="on")
    )
    # then Russian is removed, with the other change, and the translations are kept
    assert second.status_code == 302
    assert (stored(org.company).languages, stored(org.company).self_reporting) == (["en"], True)
    with company_context(org.company.id):
        assert Kpi.objects.get(id=org.calls.id).name_ru == "Звонки"


def test_removing_a_language_no_content_uses_needs_no_confirmation(client, org):
    client.force_login(org.admin.user)
    with company_context(org.company.id):
        company_update(company=org.company, languages=["en", "ru"])
        Kpi.objects.update(name_ru="", description_ru="")
        from kpis.models import Unit

        Unit.objects.update(name_ru="")
    response = client.post(URL, settings_of(stored(org.company), languages=["en"]))
    assert response.status_code == 302
    assert stored(org.company).languages == ["en"]


# --- The effects: local days and the report's hour ------------------------------------------------------


def test_a_new_time_zone_moves_the_day_an_action_at_2330_utc_falls_on(client, org, time_machine):
    # given Acme on UTC, and the clock at 23:30 UTC on 10 November
    with company_context(org.company.id):
        company_update(company=org.company, time_zone="UTC")
    moment = datetime.datetime(2026, 11, 10, 23, 30, tzinfo=datetime.UTC)
    time_machine.move_to(moment, tick=False)

    def record_now() -> datetime.date:
        with company_context(org.company.id):
            result = actions_record(items=[{"user": org.ann, "kpi": org.calls, "value": "1"}])
            return KpiAction.objects.get(id=result.results[0]["id"]).day

    assert (record_now(), stored(org.company).today()) == (datetime.date(2026, 11, 10),) * 2
    # when the admin moves the company to Moscow (UTC+3) on the page
    client.force_login(org.admin.user)
    assert client.post(URL, settings_of(stored(org.company), time_zone="Europe/Moscow")).status_code == 302
    # then the same moment is on the 11th: the action's day and the company's today
    assert (record_now(), stored(org.company).today()) == (datetime.date(2026, 11, 11),) * 2
