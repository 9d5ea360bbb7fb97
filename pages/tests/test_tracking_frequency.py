"""The tracking frequencies do something everywhere (O1, issue 19 item 3): each kind of KPI opens
on the current period of its own frequency on the dashboards, Home and the KPI report unless the
URL names a period, and a KPI with no action for a whole tracking period is marked stale. Every
figure and mark is checked against the raw actions, on a fixed clock."""

import datetime
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.formats import date_format

from kpis.models import Kpi
from kpis.templatetags.kpi_format import amount
from kpis.tests.factories import make_active_kpi
from orgs.models import Member
from orgs.tenancy import company_context
from ratings.models import KpiAction
from ratings.services.voiding import action_void
from ratings.tests.pages_org import build_org, record
from ratings.windows import frequency_window

TODAY = datetime.date(2026, 11, 18)  # a Wednesday
LONG_AGO = datetime.datetime(2026, 1, 5, 9, 0, tzinfo=datetime.UTC)

# The current period of each frequency on TODAY, and the last complete one (O1).
CURRENT = {
    "daily": (datetime.date(2026, 11, 18), datetime.date(2026, 11, 18)),
    "weekly": (datetime.date(2026, 11, 16), datetime.date(2026, 11, 22)),
    "monthly": (datetime.date(2026, 11, 1), datetime.date(2026, 11, 30)),
    "quarterly": (datetime.date(2026, 10, 1), datetime.date(2026, 12, 31)),
}
LAST_COMPLETE_START = {
    "daily": datetime.date(2026, 11, 17),
    "weekly": datetime.date(2026, 11, 9),
    "monthly": datetime.date(2026, 10, 1),
    "quarterly": datetime.date(2026, 7, 1),
}
# Who did what when: days in and out of every frequency's current and last complete periods.
ACTIONS = [
    ("ann", "calls", 5, "2026-11-18"),
    ("bob", "calls", 7, "2026-11-16"),
    ("ann", "calls", 11, "2026-11-02"),
    ("cid", "calls", 13, "2026-10-20"),
    ("ann", "emails", 2, "2026-11-17"),
    ("cid", "emails", 3, "2026-11-10"),
    ("eve", "emails", 17, "2026-10-05"),
    ("bob", "emails", 19, "2026-08-20"),
    ("ann", "deals", 1, "2026-10-15"),
    ("eve", "response_time", 4, "2026-08-20"),
    ("cid", "deals", 6, "2026-11-18"),
]
# Every frequency for each kind, and never the same for both.
PAIRS = [("daily", "weekly"), ("weekly", "monthly"), ("monthly", "quarterly"), ("quarterly", "daily")]


@pytest.fixture
def org(company, make_member, time_machine):
    """Acme (``build_org``) with a secondary KPI counted as a sum, its KPIs created in January,
    and actions on days in and out of every frequency's periods; today is 18 November 2026."""
    time_machine.move_to(datetime.datetime(2026, 11, 18, 12, tzinfo=company.zone), tick=False)
    built = build_org(company, make_member)
    with company_context(company.id):
        built.emails = make_active_kpi(
            company, name={"en": "Emails sent", "ru": "Письма"}, integration_name="emails", kind="secondary"
        )
        built.silent = make_active_kpi(
            company, name={"en": "Site visits", "ru": "Визиты"}, integration_name="silent", kind="primary"
        )
        Kpi.objects.update(created_at=LONG_AGO)
    record(
        company, *[(getattr(built, who), getattr(built, kpi), value, day) for who, kpi, value, day in ACTIONS]
    )
    with company_context(company.id):  # a voided action counts for nothing
        record(company, (built.bob, built.deals, 9, "2026-11-17"))
        action_void(action=KpiAction.objects.get(member=built.bob, kpi=built.deals), reason="typo")
    return built


def set_frequencies(company, primary: str, secondary: str) -> None:
    company.primary_frequency, company.secondary_frequency = primary, secondary
    company.save(update_fields=["primary_frequency", "secondary_frequency"])


def get(client, member, url: str, **params):
    client.force_login(member.user)
    response = client.get(url, params)
    assert response.status_code == 200
    return response


def people_of(company, holder: str, org) -> list[int]:
    with company_context(company.id):
        people = Member.objects.all()
        if holder == "team":
            people = people.filter(team=org.alpha)
        elif holder == "person":
            people = people.filter(pk=org.ann.pk)
        return list(people.values_list("pk", flat=True))


def brute_total(company, kpi, people: list[int], start, end) -> Decimal:
    """The sum of the non-voided actions of ``people`` on ``kpi`` from ``start`` to ``end``."""
    with company_context(company.id):
        actions = KpiAction.objects.filter(kpi=kpi, member_id__in=people, voided_at__isnull=True)
        return sum(
            (
                action.value
                for action in actions
                if start <= action.occurred_at.astimezone(company.zone).date() <= end
            ),
            Decimal(0),
        )


def by_name(figures) -> dict:
    return {figure.kpi.integration_name: figure for figure in figures}


def span(window) -> tuple:
    return (window.start, window.end)


DASHBOARDS = {
    "company": lambda org: "/dashboards/company/",
    "team": lambda org: f"/dashboards/teams/{org.alpha.id}/",
}


# --- The default period: each kind on its own frequency ------------------------------------------


@pytest.mark.parametrize(("primary", "secondary"), PAIRS)
@pytest.mark.parametrize("holder", ["company", "team"])
def test_a_dashboard_opens_each_kind_on_its_frequency_s_current_period(
    client, org, primary, secondary, holder
):
    # given a company tracking primary and secondary KPIs at different frequencies
    set_frequencies(org.company, primary, secondary)
    # when its admin opens the dashboard with no period in the URL
    response = get(client, org.admin, DASHBOARDS[holder](org))
    # then the primary section (and the period picker) is on the primary frequency's period
    assert span(response.context["window"]) == CURRENT[primary]
    # and the secondary table on the secondary one's, named in its heading
    assert span(response.context["secondary_window"]) == CURRENT[secondary]
    html = response.content.decode()
    heading = re.search(r'id="secondary-figures">\s*<h2>(.*?)</h2>', html, re.S).group(1)
    assert response.context["secondary_window"].label in heading
    # and every figure is the raw actions' sum in its own kind's period
    people = people_of(org.company, holder, org)
    figures = by_name(response.context["primary"] + response.context["secondary"])
    for name, frequency in (("calls", primary), ("deals", primary), ("emails", secondary)):
        kpi = figures[name].kpi
        expected = brute_total(org.company, kpi, people, *CURRENT[frequency])
        assert (figures[name].total or Decimal(0)) == expected, name
    # and the page's links keep to the default periods rather than naming the primary one
    assert "period=" not in html.split('id="primary-figures"')[1].split("</section>")[0]


@pytest.mark.parametrize(("primary", "secondary"), PAIRS)
def test_home_shows_my_kpis_each_on_its_frequency_s_current_period(client, org, primary, secondary):
    set_frequencies(org.company, primary, secondary)
    response = get(client, org.ann, "/")
    assert span(response.context["primary_window"]) == CURRENT[primary]
    assert span(response.context["secondary_window"]) == CURRENT[secondary]
    people = people_of(org.company, "person", org)
    figures = by_name(response.context["primary"] + response.context["secondary"])
    for name, frequency in (("calls", primary), ("emails", secondary)):
        expected = brute_total(org.company, figures[name].kpi, people, *CURRENT[frequency])
        assert (figures[name].total or Decimal(0)) == expected, name
    # and her team's key metrics are on the primary period
    team = by_name(response.context["team_figures"])
    team_people = people_of(org.company, "team", org)
    assert team["calls"].total == brute_total(org.company, org.calls, team_people, *CURRENT[primary])


def report_totals(html: str) -> dict[str, str]:
    rows = re.findall(r'<tr data-kpi="(\w+)">.*?class="total">([^<]*)</td>', html, re.S)
    return dict(rows)


@pytest.mark.parametrize(("primary", "secondary"), PAIRS)
def test_the_kpi_report_of_a_dashboard_has_each_kind_on_its_frequency_s_period(
    client, org, primary, secondary
):
    set_frequencies(org.company, primary, secondary)
    response = get(client, org.lead, f"/dashboards/teams/{org.alpha.id}/report/")
    html = response.content.decode()
    totals = report_totals(html)
    people = people_of(org.company, "team", org)
    for name, kpi, frequency in (("calls", org.calls, primary), ("emails", org.emails, secondary)):
        expected = brute_total(org.company, kpi, people, *CURRENT[frequency])
        assert totals[name] == amount(expected, kpi.decimals), name  # with the KPI's decimals
    # and the secondary KPIs' period is named apart, the primary one's at the top
    assert f"Secondary KPIs · {frequency_window(secondary, TODAY).label}" in html
    assert frequency_window(primary, TODAY).label in html.split("Primary KPIs")[0]


@pytest.mark.parametrize(
    "params",
    [
        {"period": "month", "date": "2026-11-18"},
        {"period": "quarter"},
        {"from": "2026-11-01", "to": "2026-11-17"},
    ],
)
def test_a_period_in_the_url_holds_for_the_whole_page(client, org, params):
    # given different frequencies for the two kinds
    set_frequencies(org.company, "daily", "weekly")
    response = get(client, org.admin, "/dashboards/company/", **params)
    window = response.context["window"]
    # then both kinds are in the URL's period, and no heading names another
    assert response.context["secondary_window"] is None
    expected = {
        "month": CURRENT["monthly"],
        "quarter": CURRENT["quarterly"],
        None: (datetime.date(2026, 11, 1), datetime.date(2026, 11, 17)),
    }[params.get("period")]
    assert span(window) == expected
    people = people_of(org.company, "company", org)
    figures = by_name(response.context["primary"] + response.context["secondary"])
    for name in ("calls", "emails"):
        assert (figures[name].total or Decimal(0)) == brute_total(
            org.company, figures[name].kpi, people, *expected
        )
    # and the page's links name it
    assert "period=" in response.context["query"] or "from=" in response.context["query"]


def test_a_date_alone_moves_each_kind_to_its_period_holding_that_date(client, org):
    set_frequencies(org.company, "monthly", "weekly")
    response = get(client, org.admin, "/dashboards/company/", date="2026-10-20")
    assert span(response.context["window"]) == (datetime.date(2026, 10, 1), datetime.date(2026, 10, 31))
    assert span(response.context["secondary_window"]) == (
        datetime.date(2026, 10, 19),
        datetime.date(2026, 10, 25),
    )


def test_a_bad_date_gets_a_message_not_a_500(client, org):
    client.force_login(org.admin.user)
    response = client.get("/dashboards/company/", {"date": "2026-13-40"})
    assert response.status_code == 400
    assert "YYYY-MM-DD" in response.content.decode()


# --- Stale KPIs ---------------------------------------------------------------------------------------


def brute_stale(company, kpi, people: list[int], frequency: str) -> tuple[bool, datetime.date | None]:
    """From the raw actions: the last day of a non-voided action of ``people`` on ``kpi`` up to
    today, and whether it is before the last complete period of ``frequency`` began (for a KPI
    that existed then)."""
    with company_context(company.id):
        actions = KpiAction.objects.filter(kpi=kpi, member_id__in=people, voided_at__isnull=True)
        days = [action.occurred_at.astimezone(company.zone).date() for action in actions]
    days = [day for day in days if day <= TODAY]
    last = max(days, default=None)
    began = LAST_COMPLETE_START[frequency]
    existed = kpi.created_at.astimezone(company.zone).date() < began
    return existed and (last is None or last < began), last


def check_stale(company, figures, people, frequencies: dict, html: str) -> set[str]:
    stale = set()
    for figure in figures:
        kpi = figure.kpi  # as the page read it, after the test set its creation
        expected, last = brute_stale(company, kpi, people, frequencies[kpi.kind])
        assert (figure.stale, figure.last_action) == (expected, last), kpi.integration_name
        badge = re.search(rf'data-stale="{kpi.id}" title="([^"]*)"', html)
        assert (badge is not None) == expected, kpi.integration_name
        if expected:
            stale.add(kpi.integration_name)
            words = f"No actions since {date_format(last, 'DATE_FORMAT')}" if last else "No actions yet"
            assert badge.group(1) == words
    return stale


@pytest.mark.parametrize("frequency", list(CURRENT))
@pytest.mark.parametrize("holder", ["company", "team"])
def test_a_kpi_without_actions_for_a_whole_tracking_period_is_marked_stale(client, org, frequency, holder):
    # given both kinds tracked at ``frequency``, and a KPI created only yesterday, with no actions
    set_frequencies(org.company, frequency, frequency)
    with company_context(org.company.id):
        fresh = make_active_kpi(
            org.company, name={"en": "New metric", "ru": "Новая"}, integration_name="fresh"
        )
        Kpi.objects.filter(id=fresh.id).update(
            created_at=datetime.datetime(2026, 11, 17, 9, tzinfo=datetime.UTC)
        )
    # when the dashboard opens
    response = get(client, org.admin, DASHBOARDS[holder](org))
    figures = response.context["primary"] + response.context["secondary"]
    people = people_of(org.company, holder, org)
    # then exactly the KPIs the raw actions leave without one in the last complete period are stale
    stale = check_stale(
        org.company,
        figures,
        people,
        {"primary": frequency, "secondary": frequency},
        response.content.decode(),
    )
    # (a KPI never recorded is, one created since the period began is not; some others are fresh)
    assert "silent" in stale
    assert "fresh" not in stale
    assert len(stale) < len(figures) - 1


@pytest.mark.parametrize(("primary", "secondary"), PAIRS)
def test_home_marks_my_stale_kpis_and_my_team_s_by_each_kind_s_frequency(client, org, primary, secondary):
    set_frequencies(org.company, primary, secondary)
    response = get(client, org.ann, "/")
    html = response.content.decode()
    frequencies = {"primary": primary, "secondary": secondary}
    mine = response.context["primary"] + response.context["secondary"]
    check_stale(org.company, mine, people_of(org.company, "person", org), frequencies, html)
    team = response.context["team_figures"]
    for figure in team:
        kpi = figure.kpi  # as the page read it, after the test set its creation
        expected = brute_stale(org.company, kpi, people_of(org.company, "team", org), primary)
        assert (figure.stale, figure.last_action) == expected


def test_the_stale_marks_take_the_same_queries_for_few_and_many_kpis(client, org):
    set_frequencies(org.company, "weekly", "daily")

    def counted(url):
        client.force_login(org.admin.user)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    urls = ["/", "/dashboards/company/", f"/dashboards/teams/{org.alpha.id}/", "/dashboards/company/report/"]
    before = [counted(url) for url in urls]
    with company_context(org.company.id):
        extra = [
            make_active_kpi(
                org.company,
                name={"en": f"Extra {number}", "ru": f"Ещё {number}"},
                kind="primary" if number % 2 else "secondary",
            )
            for number in range(6)
        ]
        Kpi.objects.update(created_at=LONG_AGO)
    record(org.company, (org.ann, extra[1], 1, "2026-11-18"))
    after = [counted(url) for url in urls]
    assert after == before
    response = get(client, org.admin, "/dashboards/company/")
    stale = {f.name for f in response.context["primary"] + response.context["secondary"] if f.stale}
    assert {"Extra 0", "Extra 2", "Extra 3"} <= stale
    assert "Extra 1" not in stale


def test_frequencies_changed_on_the_settings_page_move_the_dashboards_and_home(client, org):
    """Issue 19's acceptance: the dashboards open on the new default period."""
    from pages.tests.test_company_settings import URL, settings_of

    # given a company tracking monthly and weekly
    set_frequencies(org.company, "monthly", "weekly")
    before = get(client, org.admin, "/dashboards/company/")
    assert (span(before.context["window"]), span(before.context["secondary_window"])) == (
        CURRENT["monthly"],
        CURRENT["weekly"],
    )
    # when its admin switches to quarterly and daily on the settings page
    client.force_login(org.admin.user)
    saved = client.post(
        URL, settings_of(org.company, primary_frequency="quarterly", secondary_frequency="daily")
    )
    assert saved.status_code == 302
    # then the dashboard and Home open on those periods
    after = get(client, org.admin, "/dashboards/company/")
    assert (span(after.context["window"]), span(after.context["secondary_window"])) == (
        CURRENT["quarterly"],
        CURRENT["daily"],
    )
    home = get(client, org.admin, "/")
    assert (span(home.context["primary_window"]), span(home.context["secondary_window"])) == (
        CURRENT["quarterly"],
        CURRENT["daily"],
    )
