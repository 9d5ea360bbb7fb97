"""Organization → Key Metrics in a real browser (issue 19, item 1): the demo's company admin and
manager open it at 1440 and 390 px, hide an inherited KPI for a team in place (htmx) and see the
team's dashboard follow; the manager adds a KPI of their team; the lead and the member read only."""

import pytest

from tests.test_browser import PHONE_CHECKS, _demo_sign_in, _units

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("demo_clock")]

WIDTHS = (1440, 390)


def _allow_units_to_define_kpis() -> None:
    from orgs.models import Company
    from orgs.services import company_update

    company_update(company=Company.objects.get(slug="demo"), units_define_kpis=True)


def _kpi_id(name: str) -> int:
    from kpis.models import Kpi
    from orgs.models import Company
    from orgs.tenancy import company_context

    with company_context(Company.objects.get(slug="demo").id):
        return Kpi.objects.get(name_en=name).id


def _tree(page) -> list[str]:
    return [text.strip() for text in page.locator("#level-tree a").all_inner_texts()]


def _dashboard_has(page, url: str, kpi_id: int) -> bool:
    page.goto(url)
    # A primary KPI is a tile, a secondary one a row of the table (issue 18).
    return page.locator(f"tr[data-kpi='{kpi_id}'], article.tile[data-kpi='{kpi_id}']").count() > 0


def _look(page, screenshot, name: str) -> None:
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900 if width > 500 else 844})
        page.reload()
        screenshot(page, f"key_metrics_{name}_{width}")
        if width < 500:
            assert page.evaluate(PHONE_CHECKS) == [], name


@pytest.mark.django_db(transaction=True)
def test_a_company_admin_sees_every_level_and_hides_a_kpi_for_a_team_in_place(
    browser_page, live_server, screenshot
):
    from orgs.demo import ADMIN_EMAIL

    page = browser_page
    _demo_sign_in(page, live_server, ADMIN_EMAIL)
    units = _units()
    # from the Organization page to Key Metrics: the company open, every level in the tree
    page.goto(f"{live_server.url}/organization/")
    page.click("#key-metrics-link")
    page.wait_for_url("**/organization/metrics/")
    assert page.inner_text("#level-name") == "Demo Company"
    assert {"Sales", "Enterprise Sales", "Mid-Market Sales", "Customer Success", "Support"} <= set(
        _tree(page)
    )
    _look(page, screenshot, "admin_company")
    # a team: inherited KPIs marked, hidden in place without leaving the page
    team = f"{live_server.url}/organization/metrics/teams/{units['Enterprise Sales']}/"
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(team)
    row = page.locator("#primary-metrics tr", has=page.locator("a:text-is('Revenue')"))
    assert "inherited from the company" in row.inner_text()
    revenue = _kpi_id("Revenue")
    dashboard = f"{live_server.url}/dashboards/teams/{units['Enterprise Sales']}/"
    assert _dashboard_has(page, dashboard, revenue)
    page.goto(team)
    page.evaluate("window.notReloaded = true")
    row.locator("button:text('Hide here')").click()
    page.wait_for_selector("#key-metrics-messages")
    assert page.evaluate("window.notReloaded") is True  # htmx swapped the section only
    assert "hidden here" in row.inner_text()
    _look(page, screenshot, "admin_team_hidden")
    assert not _dashboard_has(page, dashboard, revenue)
    page.goto(team)
    row.locator("button:text('Show here')").click()
    page.wait_for_selector("#key-metrics-messages")
    assert _dashboard_has(page, dashboard, revenue)


@pytest.mark.django_db(transaction=True)
def test_a_manager_hides_and_adds_kpis_for_their_team_when_the_company_allows_it(
    browser_page, live_server, screenshot
):
    from orgs.demo import MANAGER_EMAIL

    page = browser_page
    _demo_sign_in(page, live_server, MANAGER_EMAIL)
    units = _units()
    page.goto(f"{live_server.url}/organization/metrics/")
    assert _tree(page)[0] == "Sales"
    assert "Support" not in _tree(page)
    assert page.locator("button:text('Hide here')").count() == 0  # not allowed yet
    _look(page, screenshot, "manager_not_allowed")
    # the company lets units define KPIs: the manager hides an inherited KPI for their team
    _allow_units_to_define_kpis()
    team = f"{live_server.url}/organization/metrics/teams/{units['Mid-Market Sales']}/"
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(team)
    row = page.locator("#primary-metrics tr", has=page.locator("a:text-is('Revenue')"))
    row.locator("button:text('Hide here')").click()
    page.wait_for_selector("#key-metrics-messages")
    assert "hidden here" in row.inner_text()
    assert not _dashboard_has(
        page, f"{live_server.url}/dashboards/teams/{units['Mid-Market Sales']}/", _kpi_id("Revenue")
    )
    # and adds one of the team's own
    page.goto(team)
    page.click("#add-kpi")
    page.fill("#id_name_en", "Discovery calls")
    page.fill("#id_name_ru", "Ознакомительные звонки")
    page.fill("#id_integration_name", "mm_discovery_calls")
    page.select_option("#id_kind", "secondary")
    page.check("#id_active")
    screenshot(page, "key_metrics_manager_add_form_1440")
    page.click("#unit-kpi-form button[type=submit]")
    page.wait_for_url(team)
    row = page.locator("#secondary-metrics tr", has=page.locator("a:text-is('Discovery calls')"))
    assert "own" in row.inner_text()
    # and gives it to one person of the team (K8)
    row.locator("a:text('change')").click()
    page.wait_for_url("**/audience/")
    page.check("input[name=mode][value=chosen]")
    page.select_option("#id_members", index=0)
    screenshot(page, "key_metrics_manager_audience_1440")
    page.click("#audience-form button[type=submit]")
    page.wait_for_url(team)
    assert "chosen people and units" in row.inner_text()
    _look(page, screenshot, "manager_team")
    # another department's team is not found
    assert page.goto(f"{live_server.url}/organization/metrics/teams/{units['Support']}/").status == 404


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", ["lead", "member"])
def test_a_lead_and_a_member_read_their_team_only_in_russian_too(browser_page, live_server, screenshot, role):
    from orgs.demo import LEAD_EMAIL, MEMBER_EMAIL

    page = browser_page
    _demo_sign_in(page, live_server, {"lead": LEAD_EMAIL, "member": MEMBER_EMAIL}[role])
    units = _units()
    page.goto(f"{live_server.url}/organization/metrics/")
    assert _tree(page) == ["Enterprise Sales"]
    assert page.locator("#key-metrics form").count() == 0
    _look(page, screenshot, f"{role}_team")
    with page.expect_navigation():
        page.select_option("select[name=language]", "ru")
    assert "Ключевые метрики" in page.inner_text("h1")
    _look(page, screenshot, f"{role}_team_ru")
    assert (
        page.goto(f"{live_server.url}/organization/metrics/teams/{units['Mid-Market Sales']}/").status == 404
    )
