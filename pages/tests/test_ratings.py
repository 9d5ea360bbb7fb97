"""The pages of ratings (API.md "Pages"): dashboards with targets and pacing (D3), exports (I4),
the leaderboard (R7), profiles (D2) and the activity logger (O5); who sees what (O4), another
company's nothing (O2), and a fixed number of queries whatever the size of the data."""

import csv
import datetime
import io
import json
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from kpis.services import kpi_update, target_break_down, target_create, unit_create
from kpis.templatetags.kpi_format import amount, points
from kpis.tests.factories import make_active_kpi
from orgs.models import Member, Role
from orgs.services import department_create, team_create
from orgs.tenancy import company_context
from pages.views import ratings as views
from ratings import dashboards, windows
from ratings.models import ActionSource, KpiAction
from ratings.tests.pages_org import NOVEMBER, build_org, record

TENTH = datetime.date(2026, 11, 10)


@pytest.fixture
def org(company, make_member):
    return build_org(company, make_member)


@pytest.fixture
def on_the_tenth(monkeypatch):
    """Pages see 10 November 2026 as today in the company's time zone."""
    monkeypatch.setattr(views, "company_today", lambda member: TENTH)


def get(client, member, url: str, **params):
    client.force_login(member.user)
    return client.get(url, params)


def figure(response, name: str) -> dashboards.KpiFigure:
    figures = response.context["primary"] + response.context["secondary"]
    return next(each for each in figures if each.name == name)


# --- Pacing and progress (D3, K9) --------------------------------------------------------------------


def test_a_monthly_target_of_300_expects_100_on_the_10th_of_a_30_day_month(client, org, on_the_tenth):
    # given Alpha's November target of 300 calls (November has 30 days) and 120 calls so far
    with company_context(org.company.id):
        target_create(
            kpi=org.calls, period="month", start=NOVEMBER, value="300", scope="team", team=org.alpha
        )
    record(org.company, (org.ann, org.calls, 70, "2026-11-03"), (org.bob, org.calls, 50, "2026-11-09"))
    # when the lead opens Alpha's dashboard for November on the 10th
    response = get(client, org.lead, f"/dashboards/teams/{org.alpha.id}/", period="month", date="2026-11-10")
    # then the target is 300, 100 is expected by today, and 120 is ahead of that pace
    calls = figure(response, "Calls made")
    assert (calls.total, calls.target, calls.expected) == (Decimal(120), Decimal("300.00"), Decimal("100.00"))
    assert (calls.progress, calls.pace, calls.light) == (Decimal(40), Decimal(120), dashboards.GREEN)
    # and the chart's expected-to-date line reaches 100 on the 10th and 300 on the 30th
    pacing = response.context["chart"]["pacing"]
    assert pacing["expected"][9] == 100.0
    assert pacing["expected"][29] == 300.0
    assert pacing["actual"][9] == 120.0
    assert pacing["actual"][10] is None
    assert 'id="chart-data"' in response.content.decode()


def test_a_week_of_a_monthly_target_is_its_days_share_and_a_breakdown_counts_its_parts(org):
    with company_context(org.company.id):
        target = target_create(kpi=org.calls, period="month", start=NOVEMBER, value="300")
        week = windows.window_of("week", datetime.date(2026, 11, 2), TENTH)  # 2–8 November
        assert dashboards.target_share(target, week.start, week.end) == Decimal("70.00")
        target_break_down(target=target, into="week", method="days")
        target.refresh_from_db()
        parts = sum(part.value for part in target.parts.all() if week.start <= part.start <= week.end)
        assert dashboards.target_share(target, week.start, week.end) == parts


def test_lower_is_better_turns_progress_around(client, org, on_the_tenth):
    # given a response-time ceiling of 30 for November: 10 expected by the 10th
    with company_context(org.company.id):
        target_create(kpi=org.response_time, period="month", start=NOVEMBER, value="30")
    record(org.company, (org.ann, org.response_time, 8, "2026-11-05"))
    response = get(client, org.admin, "/dashboards/company/", period="month", date="2026-11-01")
    time = figure(response, "Response time")
    # then 8 under a pace of 10 is on track: progress is target / actual
    assert (time.progress, time.pace, time.light) == (Decimal(375), Decimal(125), dashboards.GREEN)
    assert time in response.context["secondary"]


def test_the_company_breakdown_by_department_counts_each_department_its_people_now(client, org, on_the_tenth):
    """D3: the departments' figures come from their own totals; people in no department make a row
    of their own; someone who moves takes their figures to the new department (O3)."""
    from orgs.services import member_update

    record(
        org.company,
        (org.ann, org.deals, 2, "2026-11-02"),
        (org.cid, org.deals, 1, "2026-11-03"),
        (org.eve, org.deals, 4, "2026-11-04"),
        (org.admin, org.deals, 3, "2026-11-05"),  # in no department
        (org.eve, org.deals, 9, "2026-10-30"),  # another month
    )

    def rows():
        response = get(
            client, org.admin, "/dashboards/company/", by="units", period="month", date="2026-11-01"
        )
        breakdown = response.context["breakdown"]
        deals = [figure.kpi for figure in breakdown.kpis].index(org.deals)
        return {row.name: (row.values[deals], row.points) for row in breakdown.rows}

    assert rows() == {
        "Sales": (Decimal(3), Decimal(30)),
        "Support": (Decimal(4), Decimal(40)),
        "No department": (Decimal(3), Decimal(30)),
    }
    with company_context(org.company.id):
        member_update(member=Member.objects.get(user_id=org.eve.user_id), department=org.sales)
    assert rows() == {
        "Sales": (Decimal(7), Decimal(70)),
        "Support": (Decimal(0), Decimal(0)),
        "No department": (Decimal(3), Decimal(30)),
    }


def figure_cells(response, kpi) -> list[str]:
    """The figures table's cells of a KPI's row, as the page shows them."""
    html = response.content.decode()
    row = re.search(rf'<tr data-kpi="{kpi.id}".*?</tr>', html, re.S).group(0)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def tile_text(response, kpi) -> str:
    """A primary KPI's tile (issue 18), as its words read."""
    html = response.content.decode()
    tile = re.search(rf'<article class="tile[^"]*" data-kpi="{kpi.id}".*?</article>', html, re.S).group(0)
    return " ".join(re.sub(r"<[^>]+>", " ", tile).split())


def counted_in_deals(org):
    """Deals get a unit of their own counted one by one (no decimals shown, issue 18)."""
    with company_context(org.company.id):
        unit = unit_create(name={"en": "deals", "ru": "сделки"}, decimals=0)
        return kpi_update(kpi=org.deals, unit=unit)


def test_a_pro_rated_target_keeps_its_cents_beside_whole_figures(client, org, on_the_tenth):
    """Issue 18, items 5 and 8: 29 deals a month is 6.77 in the week of 9–15 November and 1.93 by
    the 10th. The page shows those cents, not "7" and "2" (which read as "2 of 2 = 104 %"); the
    deals themselves, counted one by one, show none; calls in points show two decimals."""
    # given deals counted in whole numbers, November targets of 29 deals and 29.5 calls
    counted_in_deals(org)
    with company_context(org.company.id):
        target_create(kpi=org.deals, period="month", start=NOVEMBER, value="29")
        target_create(kpi=org.calls, period="month", start=NOVEMBER, value="29.5")
    record(org.company, (org.ann, org.deals, 2, "2026-11-09"), (org.ann, org.calls, 3, "2026-11-09"))
    # when the admin opens the company dashboard for that week on the 10th
    response = get(client, org.admin, "/dashboards/company/", period="week", date="2026-11-10")
    # then the figures stay exact
    deals, calls = figure(response, "Deals won"), figure(response, "Calls made")
    assert (deals.target, deals.expected) == (Decimal("6.77"), Decimal("1.93"))
    assert (calls.target, calls.expected) == (Decimal("6.88"), Decimal("1.97"))
    # (progress and pace to the cent, as the figures API gives them, K11; the page shows whole percents)
    assert (deals.progress, deals.pace) == (Decimal("29.54"), Decimal("103.63"))
    # and the tiles show each with its KPI's decimals, a share's cents included
    assert re.search(
        r"^Deals won .* 2 .* 30% of 6.77 Pace 104% · expected by today 1.93$", tile_text(response, org.deals)
    )
    assert re.search(
        r"^Calls made .* 3.00 .* of 6.88 Pace .* expected by today 1.97$", tile_text(response, org.calls)
    )


@pytest.mark.parametrize(
    ("value", "decimals", "shown"),
    [
        (Decimal("30.00"), 0, "30"),
        (Decimal("3.91"), 0, "3.91"),  # never "4": the cents a share of a target has stay
        (Decimal("1234.60"), 0, "1,234.60"),
        (Decimal("1234.6"), 2, "1,234.60"),
        (Decimal("728.2"), 2, "728.20"),
        (Decimal("4.625"), 2, "4.63"),  # half up
        (Decimal("1.5"), 1, "1.5"),
        (Decimal("1.25"), 1, "1.25"),
        (Decimal("0.00"), 0, "0"),
        (None, 2, "—"),
    ],
)
def test_amount_shows_a_kpis_decimals_and_never_hides_cents(value, decimals, shown):
    assert amount(value, decimals) == shown


@pytest.mark.parametrize(
    ("language", "value", "shown"),
    [
        ("en", Decimal("4552511.94"), "4,552,511.94"),
        ("ru", Decimal("4552511.94"), "4\xa0552\xa0511,94"),
        ("en", Decimal("45000000"), "45,000,000.00"),
        ("ru", Decimal("45000000"), "45\xa0000\xa0000,00"),
    ],
)
def test_amount_groups_and_marks_decimals_in_the_readers_language(language, value, shown):
    with translation.override(language):
        assert amount(value, 2) == shown


def test_points_always_show_two_decimals():
    assert [points(Decimal("728.2")), points(Decimal("1820.47")), points(Decimal(5))] == [
        "728.20",
        "1,820.47",
        "5.00",
    ]


@pytest.mark.parametrize(
    ("pace", "light"), [(None, "none"), (Decimal(100), "green"), (Decimal(80), "amber"), (Decimal(79), "red")]
)
def test_the_traffic_light_follows_the_pace(pace, light):
    assert dashboards.light_of(pace) == light


def test_primary_and_secondary_kpis_are_shown_apart(client, org, on_the_tenth):
    response = get(client, org.admin, "/dashboards/company/")
    html = response.content.decode()
    primary, secondary = html.split('id="primary-figures"')[1].split('id="secondary-figures"')
    assert "Deals won" in primary
    assert "Response time" not in primary
    assert "Response time" in secondary.split('id="kpi-chart"')[0]


# --- Periods ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "start", "end"),
    [
        ({"period": "week", "date": "2026-11-10"}, "2026-11-09", "2026-11-15"),
        ({"period": "quarter", "date": "2026-11-10"}, "2026-10-01", "2026-12-31"),
        ({"period": "year", "date": "2026-02-01"}, "2026-01-01", "2026-12-31"),
        ({"from": "2026-09-15", "to": "2026-10-14"}, "2026-09-15", "2026-10-14"),
        ({"period": "custom", "from": "2026-09-15", "to": "2026-10-14"}, "2026-09-15", "2026-10-14"),
        ({}, "2026-11-01", "2026-11-30"),
    ],
)
def test_the_period_comes_from_the_query(params, start, end):
    window = windows.window_from_query(params, today=TENTH)
    assert (str(window.start), str(window.end)) == (start, end)


@pytest.mark.parametrize(
    "params",
    [
        {"period": "fortnight"},
        {"period": "week", "date": "10.11.2026"},
        {"from": "2026-11-10", "to": "2026-11-01"},
        {"from": "2026-11-10"},
        {"period": "week", "from": "2026-11-01", "to": "2026-11-10"},
        {"from": "2020-01-01", "to": "2026-01-01"},
    ],
)
def test_a_bad_period_is_a_400_that_says_why(client, org, params):
    response = get(client, org.admin, "/dashboards/company/", **params)
    assert response.status_code == 400
    assert response.context["message"]


@pytest.mark.parametrize(
    "params",
    [
        {"to": "9999-12-31"},
        {"period": "year", "date": "9999-12-31"},
        {"period": "week", "date": "9999-12-31"},
        {"from": "0001-01-01", "to": "9999-12-31"},
        {"from": "9999-12-30", "to": "9999-12-31"},
        {"period": "month", "date": "3000-01-01"},
        {"period": "month", "date": "1970-12-31"},
    ],
)
def test_dates_beyond_the_supported_range_are_a_400_page_everywhere(client, org, params):
    """issue 17: ``?period=year&date=9999-12-31`` and the like answered 500 on every page that
    reads a period (a period after it is past year 9999). Every one answers a 400 that says the
    range, 1971-01-01 to 2999-12-31, from the one parser."""
    pages = [
        "/dashboards/company/",
        f"/dashboards/teams/{org.alpha.id}/",
        "/dashboards/company/export.csv",
        "/dashboards/company/export.xlsx",
        "/dashboards/company/report/",
        "/leaderboard/",
        "/leaderboard/export.csv",
        f"/people/{org.ann.pk}/",
    ]
    for url in pages:
        response = get(client, org.admin, url, **params)
        assert response.status_code == 400, (url, response.status_code)
        assert response.context["message"], url


@pytest.mark.parametrize(
    "params",
    [
        {"period": "year", "date": "2999-12-31"},
        {"period": "week", "date": "2999-12-31"},
        {"date": "1971-01-01"},
    ],
)
def test_the_first_and_last_supported_days_show_their_pages(client, org, params):
    pages = ("/dashboards/company/", "/dashboards/company/report/", "/leaderboard/", f"/people/{org.ann.pk}/")
    for url in pages:
        assert get(client, org.admin, url, **params).status_code == 200, url


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"offset": "²"}, 200),
        ({"offset": "99999999999999999999999"}, 200),
        ({"scope": "team:²"}, 400),
        ({"scope": "team:99999999999999999999"}, 400),
    ],
)
def test_the_leaderboards_integer_parameters_are_bounded(client, org, params, status):
    """issue 17: "²" passed ``str.isdigit`` and ``int`` refused it (500). An offset that is no
    number, or too large, shows the first page; a scope's id that is none is a 400 page."""
    for url in ("/leaderboard/", "/leaderboard/export.csv"):
        assert get(client, org.admin, url, **params).status_code == status, url


# --- Who sees what (O4) and another company (O2) ------------------------------------------------------


def urls_of(org) -> dict[str, str]:
    return {
        "company": "/dashboards/company/",
        "sales": f"/dashboards/departments/{org.sales.id}/",
        "support": f"/dashboards/departments/{org.support.id}/",
        "alpha": f"/dashboards/teams/{org.alpha.id}/",
        "beta": f"/dashboards/teams/{org.beta.id}/",
        "helpdesk": f"/dashboards/teams/{org.helpdesk.id}/",
    }


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        ("admin", {"company", "sales", "support", "alpha", "beta", "helpdesk"}),
        ("manager", {"sales", "alpha", "beta"}),
        ("lead", {"alpha"}),
        ("ann", {"alpha"}),
        ("eve", {"helpdesk"}),
    ],
)
def test_each_role_opens_exactly_its_dashboards_exports_and_reports(client, org, who, allowed):
    for name, url in urls_of(org).items():
        for suffix in ("", "export.csv", "export.xlsx", "report/"):
            status = get(client, getattr(org, who), url + suffix).status_code
            refused = 403 if name == "company" else 404
            assert status == (200 if name in allowed else refused), (who, name, suffix, status)


def test_a_member_gets_404_for_anyone_elses_profile_and_a_lead_for_people_out_of_their_team(client, org):
    assert get(client, org.ann, f"/people/{org.ann.pk}/").status_code == 200
    assert get(client, org.ann, f"/people/{org.bob.user_id}/").status_code == 404
    assert get(client, org.lead, f"/people/{org.bob.user_id}/").status_code == 200
    assert get(client, org.lead, f"/people/{org.cid.user_id}/").status_code == 404
    assert get(client, org.manager, f"/people/{org.cid.user_id}/").status_code == 200
    assert get(client, org.manager, f"/people/{org.eve.user_id}/").status_code == 404


def test_another_companys_units_people_and_exports_are_not_found(client, org, other_company, make_member):
    # given Globex with a department, a team and a person, and Globex's admin
    with company_context(other_company.id):
        g_department = department_create(name="Globex sales")
        g_team = team_create(name="Globex team", department=g_department)
    g_person = make_member(other_company, email="gus@globex.example", team=g_team)
    g_admin = make_member(other_company, Role.ADMIN, email="boss@globex.example")
    ours = [
        f"/dashboards/departments/{org.sales.id}/",
        f"/dashboards/teams/{org.alpha.id}/",
        f"/people/{org.ann.pk}/",
    ]
    theirs = [
        f"/dashboards/departments/{g_department.id}/",
        f"/dashboards/teams/{g_team.id}/",
        f"/people/{g_person.user_id}/",
    ]
    for url in theirs:
        for suffix in ("", "export.csv", "report/") if "dashboards" in url else ("",):
            # then our admin (and so anyone of ours) finds none of theirs
            assert get(client, org.admin, url + suffix).status_code == 404, url + suffix
            assert get(client, org.ann, url + suffix).status_code == 404, url + suffix
    for url in ours:
        assert get(client, g_admin, url).status_code == 404, url
    # and their company dashboard shows their figures only
    record(org.company, (org.ann, org.calls, 10, "2026-11-02"))
    response = get(client, g_admin, "/dashboards/company/")
    assert response.status_code == 200
    assert "Calls made" not in response.content.decode()
    assert "Ann" not in response.content.decode()
    for url in ("/leaderboard/", "/leaderboard/export.csv", "/leaderboard/export.xlsx"):
        assert get(client, g_admin, url, scope=f"team:{org.alpha.id}").status_code == 404, url
        assert get(client, g_admin, url, scope=f"department:{org.sales.id}").status_code == 404, url
    # and their leaderboard export lists none of our people
    export = get(client, g_admin, "/leaderboard/export.csv", period="all")
    assert export.status_code == 200
    assert str(org.ann.user) not in b"".join(export.streaming_content).decode("utf-8-sig")


def test_the_leaderboard_offers_only_visible_scopes_and_shows_the_viewers_place(client, org, on_the_tenth):
    record(
        org.company,
        (org.ann, org.calls, 30, "2026-11-02"),
        (org.bob, org.calls, 20, "2026-11-02"),
        (org.cid, org.calls, 40, "2026-11-02"),
    )
    response = get(client, org.bob, "/leaderboard/", period="month", date="2026-11-02")
    assert [row.member_id for row in response.context["board"].rows] == [
        org.cid.user_id,
        org.ann.user_id,
        org.bob.user_id,
    ]
    assert "Your place: 3 of 3, points: 20.00" in response.content.decode()
    assert [value for value, _label in response.context["scopes"]] == [
        "company",
        f"department:{org.sales.id}",
        f"team:{org.alpha.id}",
    ]
    assert get(client, org.bob, "/leaderboard/", scope=f"team:{org.beta.id}").status_code == 404
    team = get(client, org.bob, "/leaderboard/", scope=f"team:{org.alpha.id}", period="all")
    assert [row.member_id for row in team.context["board"].rows] == [org.ann.user_id, org.bob.user_id]


# --- Exports (I4) ------------------------------------------------------------------------------------


def test_the_dashboard_exports_what_it_shows_with_formulas_escaped(client, org, on_the_tenth):
    with company_context(org.company.id):
        target_create(
            kpi=org.calls, period="month", start=NOVEMBER, value="300", scope="team", team=org.alpha
        )
        org.calls.name_en = "=HYPERLINK(1)"
        org.calls.save(update_fields=["name_en"])
    record(org.company, (org.ann, org.calls, 70, "2026-11-03"))
    response = get(
        client, org.lead, f"/dashboards/teams/{org.alpha.id}/export.csv", period="month", date="2026-11-01"
    )
    assert response.status_code == 200
    assert 'filename="kpis-team-' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0][:5] == ["KPI", "Kind", "Unit", "Total", "Target"]
    calls = next(row for row in rows if "HYPERLINK" in row[0])
    assert calls[0] == "'=HYPERLINK(1)"
    assert calls[3:6] == ["70.00", "300.00", "100.00"]
    xlsx = get(client, org.lead, f"/dashboards/teams/{org.alpha.id}/export.xlsx")
    assert xlsx["Content-Type"].startswith("application/vnd.openxmlformats")


# --- Activity logger (O5, R3) ------------------------------------------------------------------------


def logger_post(client, member, rows: list[dict]):
    data = {}
    for index, row in enumerate(rows):
        data |= {f"{name}-{index}": value for name, value in row.items()}
    client.force_login(member.user)
    return client.post("/logger/", data)


def actions(company):
    with company_context(company.id):
        return list(KpiAction.objects.order_by("id"))


def test_a_lead_records_for_their_people_through_the_recording_service(client, org):
    response = logger_post(
        client,
        org.lead,
        [
            {"person": org.ann.user_id, "kpi": org.calls.id, "value": "12", "when": "2026-11-02T09:30"},
            {"person": org.bob.user_id, "kpi": org.deals.id, "value": "1,5", "comment": "half"},
        ],
    )
    assert response.status_code == 200
    assert "2 actions recorded." in response.content.decode()
    recorded = actions(org.company)
    assert [(a.member_id, a.value, a.source, a.recorded_by_id) for a in recorded] == [
        (org.ann.user_id, Decimal("12.00"), ActionSource.LOGGER, org.lead.user_id),
        (org.bob.user_id, Decimal("1.50"), ActionSource.LOGGER, org.lead.user_id),
    ]
    assert recorded[0].day == datetime.date(2026, 11, 2)  # 09:30 in Moscow
    assert recorded[1].points == Decimal("15.00")


def test_one_bad_row_records_nothing_and_says_what_is_wrong_where(client, org):
    response = logger_post(
        client,
        org.lead,
        [
            {"person": org.ann.user_id, "kpi": org.calls.id, "value": "12"},
            {"person": org.bob.user_id, "kpi": org.calls.id, "value": "-1"},
        ],
    )
    assert response.status_code == 400
    assert actions(org.company) == []
    rows = response.context["rows"]
    assert rows[0]["errors"] == []
    assert "A value is a number" in rows[1]["errors"][0]
    assert rows[1]["value"] == "-1"  # what they typed stays


@pytest.mark.parametrize("value", ["1_000", "٣", "-0", "1e2"])
def test_the_logger_reads_values_with_the_one_decimal_parser(client, org, value):
    """Issue 17: only ^[0-9]+(\\.[0-9]{1,2})?$ (a decimal comma as the point) is a number."""
    response = logger_post(
        client, org.lead, [{"person": org.ann.user_id, "kpi": org.calls.id, "value": value}]
    )

    assert response.status_code == 400
    assert actions(org.company) == []
    assert "A value is a number" in response.context["rows"][0]["errors"][0]


def test_people_out_of_reach_are_not_offered_and_are_refused(client, org, other_company, make_member):
    stranger = make_member(other_company, email="gus@globex.example")
    client.force_login(org.lead.user)
    offered = {member.user_id for member in client.get("/logger/").context["people"]}
    # O5, issue 17: the people of their team, not the lead themselves (who is in it too)
    assert offered == {org.ann.user_id, org.bob.user_id}
    for person in (org.cid, stranger):
        response = logger_post(
            client, org.lead, [{"person": person.user_id, "kpi": org.calls.id, "value": "1"}]
        )
        assert response.status_code == 400
        assert response.context["rows"][0]["errors"] == ["Choose a person from the list."]
    assert actions(org.company) == []


def test_a_lead_does_not_record_for_themselves_unless_the_company_allows_it(client, org):
    """O5, O7, issue 17: the logger refuses a head's own row; with self-reporting on, it offers
    them and records it, and a member records their own (and only their own)."""
    from orgs.services import company_update

    response = logger_post(
        client, org.lead, [{"person": org.lead.user_id, "kpi": org.calls.id, "value": "1"}]
    )
    assert response.status_code == 400
    assert actions(org.company) == []

    company_update(company=org.company, self_reporting=True)
    client.force_login(org.ann.user)
    assert {member.user_id for member in client.get("/logger/").context["people"]} == {org.ann.user_id}
    for member in (org.lead, org.ann):
        logger_post(client, member, [{"person": member.user_id, "kpi": org.calls.id, "value": "1"}])
    assert [action.member_id for action in actions(org.company)] == [org.lead.user_id, org.ann.user_id]


def test_members_may_not_use_the_logger(client, org):
    assert get(client, org.ann, "/logger/").status_code == 403
    assert (
        logger_post(
            client, org.ann, [{"person": org.ann.user_id, "kpi": org.calls.id, "value": "1"}]
        ).status_code
        == 403
    )
    assert actions(org.company) == []


# --- Query counts (STYLE 10) -------------------------------------------------------------------------


def count(client, member, url: str) -> int:
    client.force_login(member.user)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def grow(org, company, make_member, people: int) -> None:
    """More people in every team, each with actions on several days."""
    rows = []
    for number in range(people):
        for team in (org.alpha, org.beta):
            person = make_member(company, email=f"p{number}-{team.id}@acme.example", team=team)
            for day in ("2026-11-02", "2026-11-03", "2026-10-15"):
                rows += [
                    (person, org.calls, 5, day),
                    (person, org.deals, 1, day),
                    (person, org.response_time, 3, day),
                ]
    record(company, *rows)
    with company_context(company.id):
        target_create(kpi=org.calls, period="month", start=NOVEMBER, value="900")


def test_pages_take_the_same_queries_for_few_and_many_people_and_actions(
    client, org, company, make_member, on_the_tenth
):
    record(company, (org.ann, org.calls, 1, "2026-11-02"))
    with company_context(company.id):  # with targets (and their parts) before and after
        target_create(kpi=org.deals, period="quarter", start=datetime.date(2026, 10, 1), value="90")
    urls = {
        "company": "/dashboards/company/",
        "company by person": "/dashboards/company/?by=members",
        "department": f"/dashboards/departments/{org.sales.id}/",
        "team": f"/dashboards/teams/{org.alpha.id}/",
        "custom range": f"/dashboards/teams/{org.alpha.id}/?from=2026-10-01&to=2026-11-10",
        "leaderboard": "/leaderboard/",
        "leaderboard range": "/leaderboard/?from=2026-10-01&to=2026-11-10",
        "profile": f"/people/{org.ann.pk}/",
        "export": "/dashboards/company/export.csv",
        "logger": "/logger/",
    }
    before = {name: count(client, org.admin, url) for name, url in urls.items()}
    grow(org, company, make_member, 12)
    after = {name: count(client, org.admin, url) for name, url in urls.items()}
    assert after == before
    # A team's page: its figures, the breakdown's page of people, the chart, the leaderboard, the
    # breadcrumb and who needs attention, each a fixed number of queries.
    assert max(before.values()) <= 36


def test_the_breakdown_by_person_orders_by_a_kpi_and_turns_pages(client, org, on_the_tenth, monkeypatch):
    """Issue 16: a column's heading orders the people by that KPI, best first; a pager shows the
    rows beyond the first page; a page beyond the last shows the last, junk or a huge number the
    first."""
    from pages import selectors

    monkeypatch.setattr(selectors, "BREAKDOWN_LIMIT", 2)
    record(
        org.company,
        (org.ann, org.deals, 2, "2026-11-02"),
        (org.cid, org.deals, 1, "2026-11-03"),
        (org.eve, org.deals, 4, "2026-11-04"),
    )
    params = {"by": "members", "period": "month", "date": "2026-11-01", "sort": str(org.deals.id)}
    first = get(client, org.admin, "/dashboards/company/", **params)
    second = get(client, org.admin, "/dashboards/company/", **params, page="2")
    names = [row.name for row in first.context["breakdown"].rows + second.context["breakdown"].rows]
    assert names[:3] == [str(org.eve.user), str(org.ann.user), str(org.cid.user)]
    # Issue 18 (4): everyone in the unit is a row, those with nothing recorded too.
    with company_context(org.company.id):
        everyone = Member.objects.filter(user__is_active=True).count()
    assert first.context["breakdown"].count == everyone > 3
    html = first.content.decode()
    assert f"sort={org.deals.id}&amp;page=2" in html
    assert 'aria-sort="descending"' in html
    assert f"1–2 of {everyone}" in html
    last_page = -(-everyone // 2)
    for page, shown in (("999", last_page), ("99999999999999999999", 1), ("x", 1), ("-1", 1), ("٣", 1)):
        response = get(client, org.admin, "/dashboards/company/", **params, page=page)
        assert response.status_code == 200
        assert response.context["breakdown"].page == shown


@pytest.mark.parametrize(
    "params",
    [
        {"period": "month", "date": "2026-11-01"},
        {"period": "week", "date": "2026-11-02"},
        {"from": "2026-10-15", "to": "2026-11-20"},
    ],
)
@pytest.mark.parametrize("unit", ["company", "department", "team"])
def test_the_breakdowns_points_are_the_leaderboards(client, org, on_the_tenth, unit, params):
    """Issue 18 (4), issue 16: the breakdown by person shows each person's rating in the window
    (R6: every KPI in the rating, not only the table's), as the unit's leaderboard does, ordered
    by it, most first (ties by user id), the people with no points after them; each equals the
    sum of their live actions' points in the window."""
    record(
        org.company,
        (org.ann, org.deals, 2, "2026-11-02"),
        (org.ann, org.calls, 7, "2026-11-03"),
        (org.bob, org.calls, 27, "2026-11-04"),
        (org.cid, org.deals, 1, "2026-10-20"),
        (org.cid, org.calls, 5, "2026-11-19"),
        (org.eve, org.deals, 1, "2026-11-05"),
        (org.lead, org.response_time, 3, "2026-11-02"),
    )
    url = {
        "company": "/dashboards/company/",
        "department": f"/dashboards/departments/{org.sales.id}/",
        "team": f"/dashboards/teams/{org.alpha.id}/",
    }[unit]
    response = get(client, org.admin, url, by="members", sort="points", **params)
    breakdown = response.context["breakdown"]
    window = response.context["window"]
    with company_context(org.company.id):
        people = Member.objects.filter(user__is_active=True)
        if unit != "company":
            scope = {"department": {"department": org.sales}, "team": {"team": org.alpha}}[unit]
            people = people.filter(**scope)
        expected = {member.user_id: Decimal("0.00") for member in people}
        for action in KpiAction.objects.filter(voided_at__isnull=True, member_id__in=expected):
            day = action.occurred_at.astimezone(org.company.zone).date()
            if window.start <= day <= window.end and action.kpi.counts_in_rating:
                expected[action.member_id] += action.points
    shown = {row.member_id: row.points for row in breakdown.rows}
    assert shown == expected
    in_order = sorted(expected, key=lambda key: (-expected[key], key))
    assert [row.member_id for row in breakdown.rows] == in_order
    board = {row.member_id: row.points for row in response.context["board"].rows}
    assert board == {key: points for key, points in expected.items() if points > 0}
    assert 0 < len(board) < len(shown)


def test_a_pages_and_the_admins_times_are_the_companys(client, org, on_the_tenth):
    """Issue 18 (2): one action's time reads the same on the profile, the admin's list of actions
    and its export, in the company's time zone (Moscow here), never in UTC."""
    from datetime import UTC

    from django.utils.formats import date_format

    record(org.company, (org.ann, org.deals, 2, "2026-11-02"))  # 10:00 in Moscow, 07:00 UTC
    with company_context(org.company.id):
        moment = KpiAction.objects.get().occurred_at
    local = date_format(moment.astimezone(org.company.zone), "SHORT_DATETIME_FORMAT")
    utc = date_format(moment.astimezone(UTC), "SHORT_DATETIME_FORMAT")
    assert local != utc
    profile = get(client, org.admin, f"/people/{org.ann.pk}/").content.decode()
    admin_list = client.get("/admin/ratings/kpiaction/").content.decode()
    for page in (profile, admin_list):
        assert local in page
        assert utc not in page
    assert "Times are in the company’s time zone" in profile  # the zone named beside the times
    assert ">MSK</abbr>" in profile


# --- At a glance (issue 18): the change, the goal summary, the tiles ----------------------------------


def test_the_change_against_the_previous_period_is_coloured_by_the_kpis_direction(client, org, on_the_tenth):
    # given October and November of a lower-is-better KPI (down 20 %), a higher-is-better one (down
    # 50 %) and one with nothing in October, in Alpha
    alpha = [(org.ann, org.response_time, 10, "2026-10-20"), (org.ann, org.response_time, 8, "2026-11-05")]
    alpha += [(org.ann, org.deals, 3, "2026-10-05"), (org.bob, org.deals, 1, "2026-10-31")]
    alpha += [(org.ann, org.deals, 2, "2026-11-02"), (org.bob, org.calls, 3, "2026-11-03")]
    alpha += [(org.bob, org.deals, 1, "2025-11-12")]  # a year before: one deal
    record(org.company, *alpha)
    for member, url in (
        (org.admin, "/dashboards/company/"),
        (org.lead, f"/dashboards/teams/{org.alpha.id}/"),
    ):
        # when the company's and the team's November are opened
        response = get(client, member, url, period="month", date="2026-11-10")
        # then the response time fell by 20 %, which is good, and shows in the table's change column
        time = figure(response, "Response time")
        assert (time.change.before, time.change.percent, time.change.tone) == (
            Decimal(10),
            Decimal(-20),
            "good",
        )
        assert time.change.label == "October 2026"
        cell = re.search(rf'<tr data-kpi="{org.response_time.id}".*?</tr>', response.content.decode(), re.S)
        assert 'class="change change-good" title="October 2026: 10' in cell.group(0)
        assert "↓</span> −20%" in cell.group(0)
        # and the deals halved, which is bad, on their tile with the figure before it
        deals = figure(response, "Deals won")
        assert (deals.change.before, deals.change.percent, deals.change.tone) == (
            Decimal(4),
            Decimal(-50),
            "bad",
        )
        assert "2.00 ↓ −50% previous period 4.00 · a year ago 1.00" in tile_text(response, org.deals)
        assert deals.year_change.percent == Decimal(100)
        assert 'title="October 2026: 4.00 · November 2025: 1.00 (+100%)"' in response.content.decode()
        assert time.year_change is None  # nothing recorded a year before
        # and the calls had nothing to compare with: a dash, not "+∞"
        calls = figure(response, "Calls made")
        assert (calls.change.before, calls.change.percent, calls.change.tone) == (Decimal(0), None, "none")
        assert "3.00 — previous period 0.00" in tile_text(response, org.calls)
        # and the tiles' sparklines end with this month's figure
        sparks = json.loads(
            re.search(
                r'id="spark-data" type="application/json">(.*?)</script>', response.content.decode()
            ).group(1)
        )
        assert sparks[str(org.deals.id)]["values"][-2:] == [4.0, 2.0]
        assert sparks[str(org.deals.id)]["labels"][-1] == "Nov 2026"


def lights_shown(response) -> list[str]:
    """The status of every KPI the page shows: its tile's or its table row's light."""
    html = response.content.decode()
    tiles = re.findall(r'<article class="tile[^"]*" data-kpi="\d+" data-light="(\w+)"', html)
    rows = re.findall(r'<tr data-kpi="\d+".*?class="light light-(\w+)"', html, re.S)
    return tiles + rows


def test_the_goal_summary_counts_the_statuses_of_the_rows_and_each_count_shows_its_rows(
    client, org, on_the_tenth
):
    # given November targets that put one KPI on track, one slightly behind, one behind, and more
    with company_context(org.company.id):
        target_create(kpi=org.calls, period="month", start=NOVEMBER, value="30")  # 10 expected
        target_create(kpi=org.deals, period="month", start=NOVEMBER, value="30")
        extra = make_active_kpi(org.company, name={"en": "Demos", "ru": "Демо"}, kind="secondary")
        target_create(kpi=extra, period="month", start=NOVEMBER, value="30")
    record(org.company, (org.ann, org.calls, 12, "2026-11-02"), (org.ann, org.deals, 9, "2026-11-02"))
    record(org.company, (org.ann, extra, 1, "2026-11-02"))
    # when the admin opens the company's November
    response = get(client, org.admin, "/dashboards/company/", period="month", date="2026-11-10")
    # then the summary counts what the tiles and rows show
    summary = response.context["summary"]
    shown = lights_shown(response)
    assert sorted(shown) == ["amber", "green", "none", "red"]
    assert summary.total == len(shown) == 4
    assert summary.counts == {status: shown.count(status) for status in ("green", "amber", "red", "none")}
    text = " ".join(
        re.sub(
            r"<[^>]+>", " ", response.content.decode().split('id="goal-summary"')[1].split("</nav>")[0]
        ).split()
    )
    assert text.startswith(
        'aria-label="KPIs by status"> 1 of 4 KPIs on track 1 slightly behind 1 behind 1 without a target'
    )
    # and each count's link shows its rows only, the others' statuses still counted
    for status in ("green", "amber", "red", "none"):
        link = re.search(
            rf'<a href="([^"]+)"[^>]*data-status="{status}"',
            response.content.decode(),
        )
        filtered = client.get("/dashboards/company/" + link.group(1).replace("&amp;", "&"))
        assert lights_shown(filtered) == [status]
        assert filtered.context["summary"].counts == summary.counts
        assert "Show all" in filtered.content.decode()
    # and a status that is none of them shows every row
    assert sorted(lights_shown(client.get("/dashboards/company/", {"status": "purple"}))) == sorted(shown)


def test_the_comparison_takes_one_pass_whatever_the_number_of_kpis(client, org, company, on_the_tenth):
    """Issue 18: the earlier periods' figures (the previous one, a year before, the sparklines) are
    one more query over the aggregates (two with a ``last`` KPI), and a dashboard's queries do not
    grow with its KPIs."""
    urls = [
        "/dashboards/company/",
        f"/dashboards/departments/{org.sales.id}/",
        f"/dashboards/teams/{org.alpha.id}/",
        f"/dashboards/teams/{org.alpha.id}/?from=2026-10-01&to=2026-11-10",
    ]
    kinds = ("sum", "average", "max", "last")

    def add_kpis() -> None:
        with company_context(company.id):
            kpis = [
                make_active_kpi(company, aggregation=kind, kind=kind_)
                for kind in kinds
                for kind_ in ("primary", "secondary")
            ]
        record(
            company,
            *[(org.bob, kpi, 2, day) for kpi in kpis for day in ("2025-11-03", "2026-10-03", "2026-11-03")],
        )

    add_kpis()
    before = [count(client, org.admin, url) for url in urls]
    for _more in range(3):
        add_kpis()
    assert [count(client, org.admin, url) for url in urls] == before
    holder = dashboards.company_holder("Acme")
    window = windows.window_of("month", TENTH, TENTH)
    with company_context(company.id):
        kpis = dashboards.holder_kpis(holder)
        assert len(kpis) == 4 * 8 + 3
        # A latest value's read is one query more: whole months' people's rows (PeriodLatest).
        everything = 2
        for shown, queries_taken in (
            ([kpi for kpi in kpis if kpi.aggregation != "last"], 1),
            (kpis, everything),
        ):
            figures = dashboards.kpi_figures(holder, shown, window, ["en"])
            with CaptureQueriesContext(connection) as queries:
                dashboards.compare_figures(holder, figures, window)
            assert len(queries) == queries_taken
