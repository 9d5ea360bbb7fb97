"""A company admin adds a KPI in a real browser (Debian's chromium driven by Playwright): language
tabs and their marks, the status switch, the rating ratio, a unit added in the popup, links through
the paperclip's dialog, then the access step (PRODUCT K1, K3–K5, K7, K8)."""

import pytest

from kpis import terms
from kpis.models import Kpi, KpiStatus
from kpis.tests.factories import make_active_kpi
from orgs.models import Role
from orgs.services import department_create, team_create
from orgs.tenancy import company_context
from orgs.tests.admin_pages import sign_in_to_the_admin

pytestmark = pytest.mark.browser

PASSWORD = "kpi-admin-2026"


def _visible(page, selector: str) -> bool:
    return page.locator(selector).is_visible()


@pytest.mark.django_db(transaction=True)
def test_a_company_admin_adds_a_kpi_with_a_new_unit_links_and_access(
    company, make_member, browser_page, live_server, screenshot
):
    # given a company admin of Acme (English and Russian) and a KPI to link to
    make_member(company, Role.ADMIN, email="ada@acme.example", first_name="Ada", password=PASSWORD)
    with company_context(company.id):
        calls = make_active_kpi(
            company, name={"en": "Calls made", "ru": "Звонки"}, integration_name="calls_made"
        )
        sales = department_create(name="Sales")
        support = department_create(name="Support")
        team_create(name="Hunters", department=sales)
        team_create(name="Farmers", department=sales)
    make_member(company, first_name="Alice", last_name="Archer", email="alice@acme.example", department=sales)
    make_member(company, first_name="Carol", last_name="Cole", email="carol@acme.example", department=support)
    page = browser_page
    sign_in_to_the_admin(page, live_server, "ada@acme.example", PASSWORD)

    # when they open "Add KPI"
    page.goto(f"{live_server.url}/admin/kpis/kpi/add/")
    screenshot(page, "kpi_admin_01_empty")
    # then nothing is complete yet: both tabs are marked and the switch is off
    assert _visible(page, "#kpi-tab-en .kpi-tab-dot")
    assert _visible(page, "#kpi-tab-ru .kpi-tab-dot")
    assert page.locator("#id_status").is_disabled()

    # when they fill in the English name and the integration field name
    page.fill("#id_name_en", "Signed contracts")
    page.fill("#id_integration_name", "signed_contracts")
    # then English is complete, Russian is not, and the switch says what is missing
    assert not _visible(page, "#kpi-tab-en .kpi-tab-dot")
    assert _visible(page, "#kpi-tab-ru .kpi-tab-dot")
    assert page.get_attribute("#kpi-tab-ru .kpi-tab-dot", "title") == "Incomplete"
    assert page.locator("#id_status").is_disabled()
    assert "Russian" in page.inner_text("#id_status_reason")
    screenshot(page, "kpi_admin_02_english_only")
    page.locator("#id_status").scroll_into_view_if_needed()
    screenshot(page, "kpi_admin_02b_status_waits")

    # the ratio appears with "Consider in the rating" only
    assert not _visible(page, "#kpi-ratio")
    page.check("#id_in_rating")
    assert _visible(page, "#kpi-ratio")
    assert page.input_value("#id_rating_units") == "1"
    page.fill("#id_rating_units", "2.5")
    page.fill("#id_rating_points", "3")
    screenshot(page, "kpi_admin_03_rating")

    # when they add a unit with the "+" next to the unit select
    with page.expect_popup() as popup_info:
        page.click("#add_id_unit")
    popup = popup_info.value
    popup.wait_for_load_state()
    popup.fill("#id_name_en", "contracts")
    popup.fill("#id_name_ru", "договоры")
    screenshot(popup, "kpi_admin_04_unit_popup")
    with popup.expect_event("close"):
        popup.click("input[name=_save]")
    page.bring_to_front()  # the form's window has the focus again, as it would for a person
    # then the popup closed and the new unit is chosen
    page.wait_for_function("document.querySelector('#id_unit').selectedOptions[0].text === 'contracts'")
    screenshot(page, "kpi_admin_05_unit_added")

    # when they fill in the Russian name
    page.click("#kpi-tab-ru")
    page.fill("#id_name_ru", "Подписанные договоры")
    # then everything is complete and the switch can be turned on
    assert not _visible(page, "#kpi-tab-ru .kpi-tab-dot")
    assert page.locator("#id_status").is_enabled()
    assert not _visible(page, "#id_status_reason")
    page.check("#id_status")
    assert page.inner_text(".kpi-status-state") == "Active"
    screenshot(page, "kpi_admin_06_complete")

    # when they insert an external link in the English terms with the paperclip
    page.click("#kpi-tab-en")
    page.fill("#id_description_en", "Count a contract once it is signed. See ")
    page.click("[data-kpi-link-for=id_description_en]")
    assert _visible(page, "#kpi-link-dialog")
    page.fill("#kpi-link-url", "https://wiki.acme.example/contracts")
    page.fill("#kpi-link-title", "the contract rules")
    screenshot(page, "kpi_admin_07_link_dialog")
    page.click("#kpi-link-insert")
    # then the markup is in the terms and the preview shows the link
    assert not _visible(page, "#kpi-link-dialog")
    description_en = page.input_value("#id_description_en")
    assert description_en.endswith("See [the contract rules](https://wiki.acme.example/contracts)")
    page.wait_for_selector(
        "[data-kpi-preview-for=id_description_en] a[href='https://wiki.acme.example/contracts']"
    )
    # and the terms now lack their Russian version: the switch waits again
    assert _visible(page, "#kpi-tab-ru .kpi-tab-dot")
    assert page.locator("#id_status").is_disabled()
    assert "description in Russian" in page.inner_text("#id_status_reason")
    screenshot(page, "kpi_admin_08_link_inserted")

    # when they write the Russian terms with an internal link to "Calls made", found by the dialog's search
    page.click("#kpi-tab-ru")
    page.fill("#id_description_ru", "Договор считается после подписания. См. ")
    page.click("[data-kpi-link-for=id_description_ru]")
    page.select_option("#kpi-link-type", "internal")
    page.fill("#kpi-link-search", "Calls")
    page.wait_for_selector(f"#kpi-link-results [data-target-id='{calls.pk}']")
    screenshot(page, "kpi_admin_09_internal_link_search")
    page.click(f"#kpi-link-results [data-target-id='{calls.pk}']")
    page.fill("#kpi-link-title", "звонки")
    page.click("#kpi-link-insert")
    assert page.input_value("#id_description_ru").endswith(f"[звонки](internal:kpis/{calls.pk})")
    # then the switch is back on, as they had set it
    assert page.locator("#id_status").is_enabled()
    assert page.locator("#id_status").is_checked()
    calls_href = terms.INTERNAL_SECTIONS["kpis"](calls.pk)
    page.wait_for_selector(f"[data-kpi-preview-for=id_description_ru] a[href='{calls_href}']")
    screenshot(page, "kpi_admin_10_ready")

    # when they save
    page.click("input[name=_save]")
    # then they land on the access step
    page.wait_for_url("**/access/")
    assert "Now choose who receives it" in page.inner_text(".messagelist")
    assert page.is_checked("input[name=mode][value=everyone]")
    assert not _visible(page, "#kpi-access-chosen")
    page.check("input[name=mode][value=chosen]")
    assert _visible(page, "#kpi-access-chosen")
    screenshot(page, "kpi_admin_11_access_chosen")
    page.check("input[name=mode][value=everyone]")
    screenshot(page, "kpi_admin_12_access")
    page.click("input[name=_save]")
    page.wait_for_url("**/change/")
    assert "Access to “Signed contracts” saved." in page.inner_text(".messagelist")
    screenshot(page, "kpi_admin_13_saved")
    # and on its page they hide it for Support (K6)
    page.select_option("#id_hide_unit", f"department:{support.pk}")
    page.click("#kpi-hide-form button[type=submit]")
    page.wait_for_url("**/change/#kpi-hides")
    assert "is hidden for Support" in page.inner_text(".messagelist")
    assert "Support" in page.inner_text("#kpi-hides-table")
    page.locator("#kpi-hides").scroll_into_view_if_needed()
    screenshot(page, "kpi_admin_14_hides_and_targets")

    # and the KPI is saved as they made it
    with company_context(company.id):
        kpi = Kpi.objects.select_related("unit").get(integration_name="signed_contracts")
    assert (kpi.name_en, kpi.name_ru, kpi.status) == (
        "Signed contracts",
        "Подписанные договоры",
        KpiStatus.ACTIVE,
    )
    assert (kpi.unit.name_en, kpi.unit.name_ru) == ("contracts", "договоры")
    assert (kpi.in_rating, str(kpi.rating_units), kpi.rating_points) == (True, "2.50", 3)
    assert "[the contract rules](https://wiki.acme.example/contracts)" in kpi.description_en
    assert f"[звонки](internal:kpis/{calls.pk})" in kpi.description_ru

    # the other pages of the KPI admin, as the admin sees them
    page.goto(f"{live_server.url}/admin/kpis/kpi/")
    assert "Signed contracts" in page.inner_text("#result_list")
    screenshot(page, "kpi_admin_15_list")
    page.goto(f"{live_server.url}/admin/kpis/kpi/{kpi.pk}/history/")
    assert "Hidden for a unit" in page.inner_text("#change-history")
    screenshot(page, "kpi_admin_16_history")
    page.goto(f"{live_server.url}/admin/kpis/unit/")
    screenshot(page, "kpi_admin_17_units")
    page.goto(f"{live_server.url}/admin/kpis/unit/{kpi.unit_id}/delete/")
    assert "A KPI uses this unit" in page.inner_text("#unit-deletion-refusals")
    screenshot(page, "kpi_admin_18_unit_delete_refused")
    page.goto(f"{live_server.url}/admin/kpis/target/add/?kpi={kpi.pk}")
    screenshot(page, "kpi_admin_19_target_add")

    # the same form in the admin's dark theme
    page.emulate_media(color_scheme="dark")
    page.goto(f"{live_server.url}/admin/kpis/kpi/{kpi.pk}/change/")
    screenshot(page, "kpi_admin_20_dark")
    page.click("[data-kpi-link-for=id_description_en]")
    screenshot(page, "kpi_admin_21_dark_dialog")


def _pick_internal(page, language: str, section: str, query: str, target_id: int) -> None:
    """Open the terms' link dialog, find ``query`` in ``section`` and choose ``target_id``."""
    page.click(f"[data-kpi-link-for=id_description_{language}]")
    page.select_option("#kpi-link-type", "internal")
    page.select_option("#kpi-link-section", section)
    page.fill("#kpi-link-search", query)
    page.wait_for_selector(f"#kpi-link-results [data-target-id='{target_id}']")
    page.click(f"#kpi-link-results [data-target-id='{target_id}']")


@pytest.mark.django_db(transaction=True)
def test_the_link_dialog_warns_before_saving_that_a_team_dashboard_is_narrower(
    company, make_member, browser_page, live_server, screenshot
):
    # given a company-wide KPI, a team Hunters of one person, and someone in another department
    make_member(company, Role.ADMIN, email="ada@acme.example", first_name="Ada", password=PASSWORD)
    with company_context(company.id):
        kpi = make_active_kpi(company, name={"en": "Signed contracts", "ru": "Подписанные договоры"})
        sales = department_create(name="Sales")
        support = department_create(name="Support")
        hunters = team_create(name="Hunters", department=sales)
    hal = make_member(company, first_name="Hal", email="hal@acme.example", department=sales, team=hunters)
    make_member(company, first_name="Carol", email="carol@acme.example", department=support)
    page = browser_page
    page.set_viewport_size({"width": 1440, "height": 900})
    sign_in_to_the_admin(page, live_server, "ada@acme.example", PASSWORD)

    # when the admin opens the KPI's form and links its terms to the team's dashboard
    page.goto(f"{live_server.url}/admin/kpis/kpi/{kpi.pk}/change/")
    page.click("#kpi-tab-en")
    page.fill("#id_description_en", "See ")
    _pick_internal(page, "en", "dashboards/teams", "Hunt", hunters.pk)

    # then before anything is saved the dialog says who cannot open it: Ada and Hal can, Carol cannot
    page.wait_for_selector("#kpi-link-warning:not([hidden])")
    warning = "1 person who receives this KPI cannot open the link to “Team dashboard: Sales / Hunters”"
    assert warning in page.inner_text("#kpi-link-warning")
    page.wait_for_timeout(400)  # longer than the search's pause: a late search must not reopen the list
    assert not _visible(page, "#kpi-link-results")
    screenshot(page, "kpi_link_01_warning_1440")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "kpi_link_02_warning_390")
    page.set_viewport_size({"width": 1440, "height": 900})

    # when they insert it, write the Russian terms too, and save
    page.click("#kpi-link-insert")
    assert page.input_value("#id_description_en") == f"See [Hunters](internal:dashboards/teams/{hunters.pk})"
    page.click("#kpi-tab-ru")
    page.fill("#id_description_ru", "См. панель команды.")
    page.click("input[name=_continue]")
    page.wait_for_url("**/change/")

    # then the save says it again, and the link is saved
    assert warning in page.inner_text(".messagelist")
    screenshot(page, "kpi_link_03_saved")
    with company_context(company.id):
        kpi.refresh_from_db()
    assert f"internal:dashboards/teams/{hunters.pk}" in kpi.description_en

    # and the dialog in Russian
    page.evaluate("document.cookie = 'django_language=ru; path=/'")
    page.goto(f"{live_server.url}/admin/kpis/kpi/{kpi.pk}/change/")
    page.click("#kpi-tab-ru")
    _pick_internal(page, "ru", "people", "Hal", hal.user_id)
    page.wait_for_selector("#kpi-link-warning:not([hidden])")
    # (Ada and Hal open Hal's profile; Carol, who receives the KPI too, does not)
    assert "1 сотрудник" in page.inner_text("#kpi-link-warning")
    assert "Профиль сотрудника" in page.inner_text("#kpi-link-warning")
    screenshot(page, "kpi_link_04_warning_ru")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "kpi_link_05_warning_ru_390")
