"""A person signs in with a real browser (Debian's chromium driven by Playwright)."""

import os

import pytest

from orgs.models import Role

# The demo's pages are read on a fixed day (conftest.DEMO_MOMENT): on the 1st of a month the current
# month had too few actions to show every person in a "By person" breakdown.
pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("demo_clock")]


@pytest.mark.django_db(transaction=True)
def test_a_company_admin_signs_in_and_reaches_home_and_the_admin(
    company, make_member, browser_page, live_server, screenshot
):
    # given a company admin
    make_member(company, Role.ADMIN, email="ada@acme.example", first_name="Ada", password="sign-in-2026")
    page = browser_page
    # when they sign in through the page
    page.goto(f"{live_server.url}/accounts/login/")
    screenshot(page, "login")
    page.fill("#id_username", "ADA@acme.example")
    page.fill("#id_password", "sign-in-2026")
    page.click("button[type=submit]")
    # then they land on Home, greeted by name
    page.wait_for_url(f"{live_server.url}/")
    assert "Welcome, Ada" in page.inner_text("h1")
    screenshot(page, "home")
    # and the admin shows their company
    page.goto(f"{live_server.url}/admin/")
    assert "Acme" in page.content()
    screenshot(page, "admin")


@pytest.mark.django_db(transaction=True)
def test_a_wrong_password_shows_an_error_and_keeps_the_email(company, make_member, browser_page, live_server):
    make_member(company, Role.MEMBER, email="bob@acme.example", password="right-2026-pass")
    page = browser_page
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "bob@acme.example")
    page.fill("#id_password", "wrong")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").is_visible()
    assert page.input_value("#id_username") == "bob@acme.example"


@pytest.mark.django_db(transaction=True)
def test_a_person_in_two_companies_chooses_one_when_signing_in(
    company, other_company, make_member, browser_page, live_server, screenshot
):
    """O3, issue 17: the same e-mail and password at Acme and Globex: the page asks which company."""
    for each, name in ((company, "Pat"), (other_company, "Patricia")):
        make_member(each, Role.MEMBER, email="pat@example.com", first_name=name, password="sign-in-2026")
    page = browser_page
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "pat@example.com")
    page.fill("#id_password", "sign-in-2026")
    page.click("button[type=submit]")
    # the choice, of the two companies
    assert page.locator("#company-choice").inner_text().split() == ["Company", "Acme", "Globex"]
    screenshot(page, "login-choose-company")
    page.get_by_label("Globex").check()
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    assert "Welcome, Patricia" in page.inner_text("h1")


# --- The pages of the demo company, role by role (PRODUCT D1–D6, O4, O5) ---------------------------


def _demo_sign_in(page, live_server, email: str) -> None:
    from io import StringIO

    from django.core.management import call_command

    from orgs.demo import DEMO_PASSWORD

    call_command("seed_demo", stdout=StringIO())
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


def _nav(page) -> list[str]:
    return [text.strip() for text in page.locator(".main-nav a").all_inner_texts()]


def _status(page, url: str) -> int:
    return page.goto(url).status


def _units():
    from orgs.models import Company, Department, Team
    from orgs.tenancy import company_context

    company = Company.objects.get(slug="demo")
    with company_context(company.id):
        units = {department.name: department.id for department in Department.objects.all()}
        units |= {team.name: team.id for team in Team.objects.all()}
    return units


def _charts_drawn(page) -> int:
    page.wait_for_function(
        # Chart.js may still be loading when the canvases are already in the page: wait for both
        "() => typeof Chart !== 'undefined'"
        " && [...document.querySelectorAll('canvas[data-chart]')].every(c => Chart.getChart(c))"
    )
    return page.locator("canvas[data-chart]").count()


@pytest.mark.django_db(transaction=True)
def test_a_member_sees_their_own_kpis_team_and_board_and_nothing_else(browser_page, live_server, screenshot):
    from orgs.demo import MEMBER_EMAIL

    page = browser_page
    _demo_sign_in(page, live_server, MEMBER_EMAIL)
    units = _units()
    # Home: their KPIs with value, target and progress; their points and rank; their team's metrics
    assert _nav(page) == ["Home", "My profile", "Dashboards", "Leaderboard", "Organization"]
    assert "Revenue" in page.inner_text("#primary-kpis")
    assert page.locator("#primary-kpis .progress-cell").count() > 0
    assert page.inner_text("#my-rank").split()[0].isdigit()
    assert "Enterprise Sales" in page.inner_text("#team-kpis")
    screenshot(page, "pages_member_01_home")
    # Profile: charts, rating over time, recent actions
    page.click(".main-nav a:text('My profile')")
    page.wait_for_url("**/people/*/")
    assert _charts_drawn(page) == 3
    assert page.locator("#recent-actions tbody tr").count() > 0
    screenshot(page, "pages_member_02_profile")
    # Their team's dashboard is the one dashboard they have
    page.goto(f"{live_server.url}/dashboards/")
    assert page.locator("#dashboard-list a").all_inner_texts() == ["Sales / Enterprise Sales"]
    page.click("#dashboard-list a")
    assert page.inner_text("#holder-name") == "Enterprise Sales"
    assert _charts_drawn(page) == 2
    screenshot(page, "pages_member_03_team_dashboard")
    page.goto(f"{live_server.url}/leaderboard/")
    assert "Your place:" in page.inner_text("#my-place")
    screenshot(page, "pages_member_04_leaderboard")
    page.goto(f"{live_server.url}/organization/")
    assert "Enterprise Sales" in page.inner_text("main")
    assert "Customer Success" not in page.inner_text("main")
    screenshot(page, "pages_member_05_organization")
    # and nothing beyond their reach
    assert _status(page, f"{live_server.url}/dashboards/company/") == 403
    assert _status(page, f"{live_server.url}/dashboards/teams/{units['Mid-Market Sales']}/") == 404
    assert _status(page, f"{live_server.url}/dashboards/departments/{units['Sales']}/") == 404
    assert _status(page, f"{live_server.url}/logger/") == 403
    screenshot(page, "pages_member_06_logger_refused")


@pytest.mark.django_db(transaction=True)
def test_a_team_lead_records_for_their_people_and_watches_their_team(browser_page, live_server, screenshot):
    from orgs.demo import LEAD_EMAIL

    page = browser_page
    _demo_sign_in(page, live_server, LEAD_EMAIL)
    units = _units()
    assert "Activity logger" in _nav(page)
    screenshot(page, "pages_lead_01_home")
    # the logger offers their team's people only, and records all rows or none
    page.goto(f"{live_server.url}/logger/")
    people = page.locator("select[name=person-0] option").all_inner_texts()
    assert "Liam Foster" in people
    assert "Noah Parker" not in people
    page.select_option("select[name=person-0]", label="Liam Foster")
    page.select_option("select[name=kpi-0]", label="Calls made (calls)")
    page.fill("input[name=value-0]", "12")
    page.select_option("select[name=person-1]", label="Amelia Ward")
    page.select_option("select[name=kpi-1]", label="Calls made (calls)")
    page.fill("input[name=value-1]", "-3")
    page.click("#logger-submit")
    assert "A value is a number" in page.inner_text("#logger-form")
    assert page.locator("#logger-recorded").count() == 0
    screenshot(page, "pages_lead_02_logger_error")
    page.fill("input[name=value-1]", "3")
    page.click("#logger-submit")
    assert page.inner_text("#logger-recorded") == "2 actions recorded."
    screenshot(page, "pages_lead_03_logger_recorded")
    # their team's dashboard: a KPI's charts and the period picker work in place (htmx)
    page.goto(f"{live_server.url}/dashboards/teams/{units['Enterprise Sales']}/")
    page.click("#secondary-figures a:text('Calls made')")
    page.wait_for_function("() => document.querySelector('#kpi-chart h2').textContent.includes('Calls made')")
    assert _charts_drawn(page) == 2
    screenshot(page, "pages_lead_04_team_dashboard")
    page.click(".pills a:text('Week')")
    page.wait_for_url("**period=week**")
    assert _charts_drawn(page) == 2
    screenshot(page, "pages_lead_05_team_week")
    assert _status(page, f"{live_server.url}/dashboards/departments/{units['Sales']}/") == 404
    assert _status(page, f"{live_server.url}/dashboards/teams/{units['Support']}/") == 404


@pytest.mark.django_db(transaction=True)
def test_a_department_manager_sees_their_department_by_team_and_by_period(
    browser_page, live_server, screenshot
):
    from orgs.demo import MANAGER_EMAIL

    page = browser_page
    _demo_sign_in(page, live_server, MANAGER_EMAIL)
    units = _units()
    page.goto(f"{live_server.url}/dashboards/")
    assert page.locator("#dashboard-list a").all_inner_texts() == [
        "Sales",
        "Sales / Enterprise Sales",
        "Sales / Mid-Market Sales",
    ]
    page.click("#dashboard-list a:text-is('Sales')")
    assert _charts_drawn(page) == 2
    screenshot(page, "pages_manager_01_department")
    # a department's breakdown is by team, and by person at a click (htmx)
    assert "By team" in page.inner_text("#breakdown h2")
    assert "Mid-Market Sales" in page.inner_text("#breakdown")
    page.click("#breakdown .pills a:text('People')")
    page.wait_for_function("() => document.querySelector('#breakdown h2').textContent.includes('By person')")
    assert "Liam Foster" in page.inner_text("#breakdown")
    page.locator("#breakdown").scroll_into_view_if_needed()
    screenshot(page, "pages_manager_02_by_person")
    # a custom range through the picker
    page.select_option("select[name=period]", "custom")
    page.fill("input[name=from]", "2026-09-01")
    page.fill("input[name=to]", "2026-10-31")
    page.click(".period-form button[type=submit]")
    page.wait_for_url("**from=2026-09-01**")
    assert page.inner_text("#period-label") == "Sept. 1, 2026 – Oct. 31, 2026"
    assert "period=month" not in page.url
    screenshot(page, "pages_manager_03_custom_range")
    page.goto(f"{live_server.url}/leaderboard/?scope=department:{units['Sales']}&period=quarter")
    assert page.inner_text("#scope-name") == "Sales"
    screenshot(page, "pages_manager_04_leaderboard")
    page.goto(f"{live_server.url}/organization/")
    screenshot(page, "pages_manager_05_organization")
    assert _status(page, f"{live_server.url}/dashboards/company/") == 403
    assert _status(page, f"{live_server.url}/dashboards/departments/{units['Customer Success']}/") == 404


def _revenue_id() -> int:
    from kpis.models import Kpi
    from orgs.models import Company
    from orgs.tenancy import company_context

    # The demo's, read in its company's context (row-level security on PostgreSQL).
    with company_context(Company.objects.get(slug="demo").id):
        return Kpi.objects.get(integration_name="revenue").id


# The first chart's axis tick for 45,000,000 and its tooltip for 4,552,511.94 (a KPI in roubles).
CHART_NUMBERS = """() => {
  const chart = Chart.getChart(document.querySelector("canvas[data-chart=trend]"));
  const item = {dataset: chart.data.datasets[0], parsed: {y: 4552511.94}};
  const options = chart.options;
  return [options.scales.y.ticks.callback(45000000), options.plugins.tooltip.callbacks.label(item)];
}"""


@pytest.mark.django_db(transaction=True)
def test_a_company_admin_sees_the_whole_company_in_english_russian_and_dark(
    browser_page, live_server, screenshot
):
    from orgs.demo import ADMIN_EMAIL

    page = browser_page
    _demo_sign_in(page, live_server, ADMIN_EMAIL)
    assert _nav(page) == [
        "Home",
        "My profile",
        "Dashboards",
        "Leaderboard",
        "Organization",
        "Activity logger",
        "Admin",
    ]
    screenshot(page, "pages_admin_01_home")
    page.goto(f"{live_server.url}/dashboards/company/")
    assert _charts_drawn(page) == 2
    # the charts write numbers as the tables do, in the page's language (issue 18, item 8)
    revenue = f"{live_server.url}/dashboards/company/?kpi={_revenue_id()}"
    page.goto(revenue)
    _charts_drawn(page)
    assert page.evaluate(CHART_NUMBERS) == ["45,000,000", "Actual: 4,552,511.94"]
    screenshot(page, "pages_admin_02_company")
    # the company's breakdown is by department
    assert "By department" in page.inner_text("#breakdown h2")
    assert "Customer Success" in page.inner_text("#breakdown")
    page.locator("#breakdown").scroll_into_view_if_needed()
    screenshot(page, "pages_admin_03_by_department")
    page.goto(f"{live_server.url}/organization/")
    assert "Olivia Bennett" in page.inner_text("#admins")
    screenshot(page, "pages_admin_04_organization")
    page.goto(f"{live_server.url}/logger/")
    screenshot(page, "pages_admin_05_logger")
    # in Russian
    page.goto(f"{live_server.url}/dashboards/company/")
    with page.expect_navigation():
        page.select_option("select[name=language]", "ru")
    page.wait_for_load_state("networkidle")
    assert "Основные KPI" in page.inner_text("#primary-figures")
    assert "Выручка" in page.inner_text("#primary-figures")
    page.goto(revenue)
    _charts_drawn(page)
    assert page.evaluate(CHART_NUMBERS) == ["45\xa0000\xa0000", "Факт: 4\xa0552\xa0511,94"]
    screenshot(page, "pages_admin_06_company_ru")
    page.goto(f"{live_server.url}/")
    screenshot(page, "pages_admin_07_home_ru")
    # and in the dark theme
    page.emulate_media(color_scheme="dark")
    page.goto(f"{live_server.url}/dashboards/company/")
    _charts_drawn(page)
    screenshot(page, "pages_admin_08_company_dark")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_top_bar_stays_on_one_line_at_1280_and_1024_pixels(
    browser_page, live_server, screenshot, language
):
    """The company admin's top bar has the most links; none of it, the language select included,
    may wrap to a second line on a laptop's screen (1280 px) or a small one (1024 px)."""
    from orgs.demo import ADMIN_EMAIL

    page = browser_page
    _demo_sign_in(page, live_server, ADMIN_EMAIL)
    if language == "ru":
        with page.expect_navigation():
            page.select_option("select[name=language]", "ru")
    for width in (1280, 1024):
        page.set_viewport_size({"width": width, "height": 700})
        page.goto(f"{live_server.url}/dashboards/company/")
        boxes = page.evaluate(
            """() => [...document.querySelectorAll(
                '.topbar .brand, .main-nav a, .topbar .account > *, .topbar .lang select'
            )].map(e => { const r = e.getBoundingClientRect();
                          return {top: r.top, bottom: r.bottom, right: r.right, visible: r.width > 0}; })"""
        )
        screenshot(page, f"pages_admin_topbar_{language}_{width}")
        visible = [box for box in boxes if box["visible"]]
        middles = {round((box["top"] + box["bottom"]) / 2) for box in visible}
        assert max(middles) - min(middles) <= 4, (width, visible)  # one line
        assert max(box["right"] for box in visible) <= width, (width, visible)  # nothing cut off


PHONE_CHECKS = """() => {
  const problems = [];
  const width = document.documentElement.scrollWidth;
  if (width > window.innerWidth) problems.push('page ' + width);
  for (const cell of document.querySelectorAll('table th, table td')) {
    if (getComputedStyle(cell).overflow === 'visible' && cell.scrollWidth > cell.clientWidth + 1)
      problems.push('cell spills: ' + cell.innerText.slice(0, 30));
  }
  for (const canvas of document.querySelectorAll('canvas')) {
    const card = canvas.closest('.card');
    if (!card) continue;
    const c = canvas.getBoundingClientRect(), k = card.getBoundingClientRect();
    if (c.left < k.left - 1 || c.right > k.right + 1) problems.push('chart outside its card');
  }
  return problems;
}"""


@pytest.mark.django_db(transaction=True)
def test_a_company_admin_changes_the_company_settings_in_the_browser(
    browser_page, live_server, screenshot, artifacts_dir
):
    """O7 (issue 19, item 2): from the Organization page to the settings; a change is saved and
    shows in the history; unticking a language that content uses asks first; Russian; a phone."""
    from orgs.demo import ADMIN_EMAIL
    from orgs.models import Company

    page = browser_page
    page.set_viewport_size({"width": 1440, "height": 900})
    _demo_sign_in(page, live_server, ADMIN_EMAIL)
    page.goto(f"{live_server.url}/organization/")
    page.click("#company-settings-link")
    page.wait_for_url(f"{live_server.url}/organization/settings/")
    screenshot(page, "settings_admin_01_1440")
    # when the admin moves the report to 10:00 in Tokyo and saves
    page.select_option("#id_time_zone", "Asia/Tokyo")
    page.select_option("#id_report_hour", "10")
    with page.expect_navigation():
        page.click("#settings-save")
    # then it is saved, and the history says who changed what
    assert "The company settings are saved." in page.inner_text("main")
    history = page.inner_text("#settings-history")
    assert "Asia/Tokyo" in history
    assert "8 → 10" in history
    company = Company.objects.get(slug="demo")
    assert (company.time_zone, company.report_hour) == ("Asia/Tokyo", 10)
    screenshot(page, "settings_admin_02_saved")
    # when they untick Russian, which the demo's KPIs are written in
    page.uncheck("#id_languages_1")
    with page.expect_navigation():
        page.click("#settings-save")
    # then nothing is saved yet: the page lists what uses Russian and asks to confirm
    assert page.locator("#confirm-removal").is_visible()
    assert page.locator("#confirm-removal a").count() > 0
    assert Company.objects.get(slug="demo").languages == company.languages
    screenshot(page, "settings_admin_03_confirm")
    # on a phone, and in Russian
    page.goto(f"{live_server.url}/organization/settings/")
    with page.expect_navigation():
        page.select_option("select[name=language]", "ru")
    page.wait_for_load_state("networkidle")
    assert "Настройки компании" in page.inner_text("h1")
    page.screenshot(path=os.path.join(artifacts_dir, "settings_admin_04_ru_1440.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/organization/settings/")
    assert page.evaluate(PHONE_CHECKS) == []
    page.screenshot(path=os.path.join(artifacts_dir, "settings_admin_05_ru_390.png"), full_page=True)


# In place of waiting for the network's silence (networkidle: half a second per page): the pages
# make no request after "load", which page.goto waits for, and pages.js draws the charts on
# DOMContentLoaded, before it. Once the fonts are ready, two animation frames let the resize
# observers and Chart.js's resize run.
SETTLED = """() => document.fonts.ready.then(
  () => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => done(true)))))"""


@pytest.mark.django_db(transaction=True)
def test_every_page_fits_the_screen_for_every_role(browser_page, live_server, artifacts_dir):
    """Issue 18 (1, 3): on a phone (390 × 844) and a desktop (1440 × 900) no page of API.md "Pages"
    scrolls sideways, no table cell's text spills into the next and every chart stays inside its
    card, for each demo role (wide tables scroll in their card): Home, the profile, every
    dashboard the role opens (up to three) with its report, the leaderboard, the logger, the
    Organization section with Key Metrics and the settings, and the admin for the company admin.

    One test for both widths, the demo seeded and each role signed in once (the test only reads);
    every page of every role and width is checked, and a failure lists each (role, width, page)
    with what did not fit."""
    import os

    from orgs.demo import ADMIN_EMAIL, LEAD_EMAIL, MANAGER_EMAIL, MEMBER_EMAIL

    page = browser_page
    seeded = False
    failures = []
    for email in (ADMIN_EMAIL, MANAGER_EMAIL, LEAD_EMAIL, MEMBER_EMAIL):
        page.context.clear_cookies()
        if seeded:
            page.goto(f"{live_server.url}/accounts/login/")
            page.fill("#id_username", email)
            page.fill("#id_password", "demo-pass-2026")
            page.click("button[type=submit]")
            page.wait_for_url(f"{live_server.url}/")
        else:
            _demo_sign_in(page, live_server, email)
            seeded = True
        profile = page.locator("a[href^='/people/']").first.get_attribute("href")
        page.goto(f"{live_server.url}/dashboards/")
        dashboards = page.locator("#dashboard-list a").evaluate_all("links => links.map(a => a.href)")
        urls = ["/", profile, "/leaderboard/", "/logger/", "/dashboards/", "/organization/"]
        urls += ["/organization/metrics/", "/organization/settings/", "/admin/"]
        urls += [*dashboards[:3], dashboards[0].split("?")[0] + "report/"] if dashboards else []
        for width, height in ((390, 844), (1440, 900)):
            page.set_viewport_size({"width": width, "height": height})
            checked = []
            for url in urls:
                response = page.goto(url if url.startswith("http") else f"{live_server.url}{url}")
                if response.status != 200:
                    continue
                page.evaluate(SETTLED)
                problems = page.evaluate(PHONE_CHECKS)
                if problems:
                    failures.append((email, width, url, problems))
                checked.append(url)
                name = url.split("?")[0].rstrip("/").rsplit("/", 1)[-1] or "home"
                shot = f"screen_{width}_{email.split('@')[0]}_{name}.png"
                page.screenshot(path=os.path.join(artifacts_dir, shot), full_page=True)
            if len(checked) < 6:
                failures.append((email, width, "fewer than 6 pages open", checked))
    assert failures == [], "\n".join(map(repr, failures))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", [1440, 390])
def test_the_logger_offers_each_persons_kpis_adds_rows_and_undoes(
    browser_page, live_server, screenshot, width
):
    """Issue 18 (7): a row's KPIs follow its person, "Find a person" narrows the lists (grouped by
    team), rows are added and removed in place and recorded in one request, and "Just recorded"
    undoes one's own entry after asking."""
    from orgs.demo import ADMIN_EMAIL

    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})
    _demo_sign_in(page, live_server, ADMIN_EMAIL)
    page.goto(f"{live_server.url}/logger/")
    assert page.locator("#logger-form tr[data-row]").count() == 3

    def kpis(row: int) -> list[str]:
        return page.locator(f"select[name=kpi-{row}] option").all_inner_texts()

    # a salesperson is not offered Support's KPI; a support agent is
    page.select_option("select[name=person-0]", label="Liam Foster")
    assert not any(name.startswith("Tickets resolved") for name in kpis(0))
    assert "Calls made (calls)" in kpis(0)
    page.select_option("select[name=person-1]", label="Aria Butler")
    assert any(name.startswith("Tickets resolved") for name in kpis(1))
    # the people come by team, and the filter narrows every row's list
    assert "Enterprise Sales" in page.locator("select[name=person-2] optgroup").evaluate_all(
        "groups => groups.map(g => g.label).join('|')"
    )
    page.fill("#logger-person-filter", "sup")
    labels = page.locator("select[name=person-2] optgroup").evaluate_all("groups => groups.map(g => g.label)")
    assert labels
    assert all("Support" in label for label in labels)
    assert page.input_value("select[name=person-0]") != ""  # a chosen person stays
    page.fill("#logger-person-filter", "")
    # a row is added in place, keyboard first; another removed
    page.click("#logger-add-row")
    assert page.locator("#logger-form tr[data-row]").count() == 4
    assert page.evaluate("document.activeElement.name") == "person-3"
    page.keyboard.type("Amelia")  # a native select picks by typing
    page.locator("#row-2 [data-remove-row]").click()
    assert page.locator("#logger-form tr[data-row]").count() == 3
    page.select_option("select[name=person-3]", label="Amelia Ward")
    page.select_option("select[name=kpi-0]", label="Calls made (calls)")
    page.fill("input[name=value-0]", "12")
    page.select_option("select[name=kpi-1]", index=1)
    page.fill("input[name=value-1]", "2")
    page.select_option("select[name=kpi-3]", label="Calls made (calls)")
    page.fill("input[name=value-3]", "-1")
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    screenshot(page, f"logger_{width}_01_rows")
    # one bad row: nothing recorded, every row back as typed, the error beside it
    page.click("#logger-submit")
    page.wait_for_load_state("networkidle")
    assert page.locator("#logger-recorded").count() == 0
    assert page.locator("#logger-form tr[data-row]").count() == 3
    assert page.input_value("input[name=value-0]") == "12"
    assert "A value is a number" in page.inner_text("#row-3-errors")
    screenshot(page, f"logger_{width}_02_error")
    page.fill("input[name=value-3]", "3")
    page.click("#logger-submit")
    page.wait_for_load_state("networkidle")
    assert page.inner_text("#logger-recorded") == "3 actions recorded."
    recent = page.locator("#logger-recent tbody tr")
    assert recent.count() >= 3
    assert "Amelia Ward" in recent.first.inner_text()
    screenshot(page, f"logger_{width}_03_recorded")
    # undo asks first: cancelled, nothing changes; accepted, the row shows as voided
    page.once("dialog", lambda dialog: dialog.dismiss())
    recent.first.locator("button:text('Undo')").click()
    assert "voided" not in (recent.first.get_attribute("class") or "")
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        recent.first.locator("button:text('Undo')").click()
    assert "Undone:" in page.inner_text("[data-message]")
    assert "voided" in (page.locator("#logger-recent tbody tr").first.get_attribute("class") or "")
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    screenshot(page, f"logger_{width}_04_undone")


TILES_FIT = """() => {
  const problems = [];
  const width = document.documentElement.scrollWidth;
  if (width > window.innerWidth) problems.push('page ' + width);
  const card = document.querySelector('#primary-figures').getBoundingClientRect();
  const tiles = [...document.querySelectorAll('.tile')];
  for (const tile of tiles) {
    const t = tile.getBoundingClientRect();
    if (t.left < card.left - 1 || t.right > card.right + 1) problems.push('tile outside its card');
    for (const part of tile.querySelectorAll('h3, p, .tile-value, .change, canvas')) {
      const p = part.getBoundingClientRect();
      if (p.width && (p.left < t.left - 1 || p.right > t.right + 1))
        problems.push('spills: ' + part.textContent.slice(0, 30));
    }
  }
  for (const link of document.querySelectorAll('#goal-summary a')) {
    if (link.getBoundingClientRect().right > window.innerWidth)
      problems.push('summary cut: ' + link.textContent);
  }
  const lefts = new Set(tiles.map(tile => Math.round(tile.getBoundingClientRect().left)));
  return {problems: problems, columns: lefts.size, tiles: tiles.length};
}"""


@pytest.mark.django_db(transaction=True)
def test_the_goal_summary_and_the_tiles_fit_a_phone_and_a_wide_screen(
    browser_page, live_server, artifacts_dir
):
    """Issue 18: the goal summary and the primary KPIs' tiles, with their change and sparkline, fit
    at 390 px (one column) and 1440 px (several), on the company's, a department's and a team's
    dashboard, in English and Russian; a count of the summary shows its tiles only."""
    import os

    from orgs.demo import ADMIN_EMAIL, LEAD_EMAIL, MANAGER_EMAIL

    page = browser_page
    units = None
    for email, unit in ((ADMIN_EMAIL, None), (MANAGER_EMAIL, "Sales"), (LEAD_EMAIL, "Enterprise Sales")):
        page.context.clear_cookies()
        if units is None:
            _demo_sign_in(page, live_server, email)
            units = _units()
        else:
            page.goto(f"{live_server.url}/accounts/login/")
            page.fill("#id_username", email)
            page.fill("#id_password", "demo-pass-2026")
            page.click("button[type=submit]")
            page.wait_for_url(f"{live_server.url}/")
        kind = "company/" if unit is None else ("departments/" if unit == "Sales" else "teams/")
        url = f"{live_server.url}/dashboards/{kind}{'' if unit is None else str(units[unit]) + '/'}"
        for language in ("en", "ru") if unit is None else ("en",):
            if language == "ru":
                with page.expect_navigation():
                    page.select_option("select[name=language]", "ru")
            for width in (390, 1440):
                page.set_viewport_size({"width": width, "height": 844 if width == 390 else 900})
                page.goto(url)
                page.wait_for_function(
                    "() => typeof Chart !== 'undefined'"
                    " && [...document.querySelectorAll('canvas[data-spark]')].every(c => Chart.getChart(c))"
                )
                fit = page.evaluate(TILES_FIT)
                name = f"{email.split('@')[0]}_{language}_{width}"
                page.screenshot(path=os.path.join(artifacts_dir, f"tiles_{name}.png"), full_page=True)
                for part in ("goal-summary", "primary-figures", "secondary-figures"):
                    page.locator(f"#{part}").screenshot(
                        path=os.path.join(artifacts_dir, f"tiles_{name}_{part}.png")
                    )
                assert fit["problems"] == [], (name, fit)
                assert fit["tiles"] >= 2, name
                assert fit["columns"] == (1 if width == 390 else min(fit["tiles"], 4)), (name, fit)
                assert page.locator("#primary-figures canvas[data-spark]").count() == fit["tiles"]
    # a count of the summary shows its KPIs only, in place
    status = page.locator(".tile").first.get_attribute("data-light")
    page.click(f"#goal-summary a[data-status={status}]")
    page.wait_for_url(f"**status={status}**")
    page.wait_for_selector("#goal-summary a.show-all")
    lights = page.locator(".tile").evaluate_all("tiles => tiles.map(t => t.dataset.light)")
    assert set(lights) == {status}
    rows = page.locator("#secondary-figures .light").evaluate_all("dots => dots.map(d => d.className)")
    assert all(row == f"light light-{status}" for row in rows)


@pytest.mark.django_db(transaction=True)
def test_a_manager_downloads_the_kpi_report_as_xlsx_with_the_pages_figures(
    browser_page, live_server, artifacts_dir
):
    """D5, issue 19 (5): beside the report's HTML download, an xlsx one; the workbook holds the
    report page's figures, row by row, at 1440 px and on a phone."""
    from orgs.demo import MANAGER_EMAIL
    from ratings.tests.test_reports import assert_same_figures

    page = browser_page
    _demo_sign_in(page, live_server, MANAGER_EMAIL)
    url = f"{live_server.url}/dashboards/departments/{_units()['Sales']}/"
    for width in (1440, 390):
        page.set_viewport_size({"width": width, "height": 900 if width == 1440 else 844})
        page.goto(url + "?period=month&date=2026-10-01")
        page.wait_for_load_state("networkidle")
        link = page.locator("#report-xlsx")
        assert link.is_visible()
        assert (
            link.bounding_box()["y"] == page.locator("#report-download").bounding_box()["y"] or width == 390
        )
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
        page.screenshot(path=os.path.join(artifacts_dir, f"report_xlsx_manager_{width}.png"))
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename.endswith("-2026-10-01-2026-10-31.xlsx")
    with open(download.value.path(), "rb") as workbook:
        content = workbook.read()
    with open(os.path.join(artifacts_dir, "report_xlsx_manager.xlsx"), "wb") as kept:
        kept.write(content)
    html = page.request.get(url + "report/?period=month&date=2026-10-01").text()
    assert len(assert_same_figures(html, content)) > 3
