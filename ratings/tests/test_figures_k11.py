"""K11 — every figure equals a brute-force computation from the raw actions: for every aggregation
(sum, count, average, min, max, last and a formula), every scope (a person, a team, a department,
the company), every kind of period and arbitrary ranges, with voided actions and people who moved
department. The dashboards' totals, their breakdowns by person and by sub-unit, the trend chart
and the figures API all read the same aggregates, so each is checked here against the actions."""

import csv
import datetime
import io
import random
import re
from decimal import ROUND_HALF_UP, Decimal

import pytest
import time_machine

from kpi_platform import periods as kpi_calendar
from kpi_platform.errors import DomainError
from kpis.services import kpi_update
from kpis.tests.factories import make_active_kpi, make_target
from orgs.models import Member
from orgs.selectors import active_people
from orgs.services import members_move
from orgs.tenancy import company_context
from pages import selectors
from ratings import dashboards
from ratings import selectors as ratings_selectors
from ratings.models import KpiAction, PeriodLatest
from ratings.selectors import people_by_rating, people_in_order, rating_parts
from ratings.services import action_void, actions_record, aggregates_rebuild
from ratings.windows import CUSTOM, Window, window_of

CENT = Decimal("0.01")
KINDS = ("sum", "count", "average", "min", "max", "last")
FIRST_DAY = datetime.date(2026, 6, 1)
DAYS = 120
TODAY = datetime.date(2026, 9, 20)


def shown(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(CENT, rounding=ROUND_HALF_UP)


def brute(kind: str, actions: list[KpiAction]) -> Decimal | None:
    """K11 from the raw actions, written as plainly as possible."""
    values = [action.value for action in actions]
    if kind == "sum":
        return sum(values, Decimal(0))
    if kind == "count":
        return Decimal(len(values))
    if not values:
        return None
    if kind == "average":
        return sum(values, Decimal(0)) / len(values)
    if kind == "min":
        return min(values)
    if kind == "max":
        return max(values)
    latest: dict[int, KpiAction] = {}
    for action in actions:
        known = latest.get(action.member_id)
        if known is None or (action.occurred_at, action.id) > (known.occurred_at, known.id):
            latest[action.member_id] = action
    return sum((action.value for action in latest.values()), Decimal(0))


def actions_in(live: list[KpiAction], kpi, belongs, window: Window) -> list[KpiAction]:
    """The live actions of ``kpi`` by the holder's people (``belongs``) on the window's days."""
    return [
        action
        for action in live
        if action.kpi_id == kpi.id and belongs(action.member_id) and window.start <= action.day <= window.end
    ]


def brute_conversion(actions_of) -> Decimal | None:
    """The calculated KPI ``won / leads * 100`` from the brute-force figures, not a mean of rates."""
    won, leads = brute("count", actions_of("won")), brute("sum", actions_of("leads"))
    return None if not leads else won / leads * 100


@pytest.fixture
def world(org):
    """Six KPIs, one per aggregation, and a calculated conversion rate; some 600 actions of seven
    people over four months, recorded in batches, some voided, and two people who moved."""
    company = org.company
    rng = random.Random(11)
    with company_context(company.id):
        kpis = {
            kind: make_active_kpi(company, integration_name=f"k_{kind}", aggregation=kind) for kind in KINDS
        }
        kpis["won"] = kpis["count"]
        kpis["leads"] = kpis["sum"]
        kpis["conversion"] = make_active_kpi(
            company, integration_name="conversion", formula="k_count / k_sum * 100"
        )
        people = [org.admin, org.manager, org.lead, org.member, org.seller, org.carer, org.direct]
        for batch in range(6):
            items = []
            for _ in range(100):
                moment = datetime.datetime.combine(
                    FIRST_DAY + datetime.timedelta(days=rng.randrange(DAYS)),
                    datetime.time(rng.randrange(24), rng.choice((0, 30))),
                    tzinfo=company.zone,
                )
                items.append(
                    {
                        "kpi": kpis[rng.choice(KINDS)].integration_name,
                        "user": rng.choice(people),
                        "value": str(Decimal(rng.randrange(0, 100000)) / 100),
                        "occurred_at": moment.isoformat(),  # equal times happen: the id decides "last"
                    }
                )
            actions_record(items=items)
            if batch == 2:  # people move between departments and teams midway (O3)
                members_move(members=[org.member], team=org.care)
                members_move(members=[org.carer], team=org.south)
        recorded = list(KpiAction.objects.order_by("id"))
        for action in rng.sample(recorded, 60):
            action_void(action=action, reason="wrong")
    return org, kpis


def holders(org) -> list[dashboards.Holder]:
    with company_context(org.company.id):
        people = Member.objects.select_related("user").filter(
            user_id__in=[m.user_id for m in (org.member, org.carer, org.direct, org.admin)]
        )
        return [
            dashboards.company_holder("Acme"),
            *(dashboards.department_holder(department) for department in (org.sales, org.support)),
            *(dashboards.team_holder(team) for team in (org.north, org.south, org.care)),
            *(dashboards.person_holder(person) for person in people),
        ]


def in_holder(holder: dashboards.Holder, members: dict[int, Member]):
    """Whose actions a holder's figures take: the people in the unit now (O3)."""
    if holder.kind == "company":
        return lambda member_id: True
    if holder.kind == "user":
        return lambda member_id: member_id == holder.id
    field = "department_id" if holder.kind == "department" else "team_id"
    return lambda member_id: getattr(members[member_id], field) == holder.id


def windows() -> list[Window]:
    rng = random.Random(5)
    days = [FIRST_DAY + datetime.timedelta(days=rng.randrange(DAYS)) for _ in range(3)]
    fixed = [window_of(kind, day, TODAY) for kind in ("week", "month", "quarter", "year") for day in days]
    ranges = []
    for _ in range(4):
        start = FIRST_DAY + datetime.timedelta(days=rng.randrange(DAYS))
        ranges.append(Window(CUSTOM, start, start + datetime.timedelta(days=rng.randrange(1, 60)), TODAY))
    return fixed + ranges + [Window(CUSTOM, FIRST_DAY, FIRST_DAY, TODAY)]


# Ranges of whole months and days at one edge or both: a company's breakdown by department reads
# the departments' months and the edge days apart.
MONTHS_AND_DAYS = [
    Window(CUSTOM, datetime.date(2026, 6, 15), datetime.date(2026, 8, 10), TODAY),
    Window(CUSTOM, datetime.date(2026, 7, 1), datetime.date(2026, 8, 20), TODAY),
    Window(CUSTOM, datetime.date(2026, 6, 10), datetime.date(2026, 8, 31), TODAY),
]


def test_every_figure_at_every_scope_and_period_equals_the_actions(world):
    org, kpis = world
    with company_context(org.company.id):
        members = {member.user_id: member for member in Member.objects.all()}
        live = list(KpiAction.objects.filter(voided_at__isnull=True))
        shown_kpis = [kpis[kind] for kind in KINDS] + [kpis["conversion"]]
        checked = 0
        for holder in holders(org):
            belongs = in_holder(holder, members)
            for window in windows():
                figures = {f.kpi.id: f for f in dashboards.kpi_figures(holder, shown_kpis, window, ["en"])}

                def actions_of(kind, belongs=belongs, window=window):
                    return actions_in(live, kpis[kind], belongs, window)

                for kind in KINDS:
                    expected = brute(kind, actions_of(kind))
                    figure = figures[kpis[kind].id]
                    assert figure.total == shown(expected), (holder, window, kind)
                    assert figure.count == len(actions_of(kind))
                assert figures[kpis["conversion"].id].total == shown(brute_conversion(actions_of)), (
                    holder,
                    window,
                )
                checked += 1
        assert checked == 10 * len(windows())


@pytest.mark.parametrize("by", [selectors.BY_MEMBERS, selectors.BY_ORG_UNITS])
def test_every_row_of_a_breakdown_equals_the_actions(world, by):
    org, kpis = world
    with company_context(org.company.id):
        members = {member.user_id: member for member in Member.objects.all()}
        live = list(KpiAction.objects.filter(voided_at__isnull=True))
        shown_kpis = [kpis[kind] for kind in KINDS] + [kpis["conversion"]]
        for holder in holders(org)[:3]:  # the company and the two departments
            belongs = in_holder(holder, members)
            if by == selectors.BY_ORG_UNITS:  # as the page does: totals from the sub-units' values
                dashboards.shown_by_sub_units(holder)
            for window in windows()[::3] + MONTHS_AND_DAYS:
                figures = dashboards.kpi_figures(holder, shown_kpis, window, ["en"])
                for figure in figures:  # the totals above the breakdown
                    kind = next(kind for kind in (*KINDS, "conversion") if kpis[kind].id == figure.kpi.id)
                    assert figure.total == shown(brute_in(kind, kpis, live, belongs, window)), (
                        holder,
                        window,
                    )
                table = selectors.breakdown(holder, figures, window, by)
                if by == selectors.BY_MEMBERS:
                    group = {
                        row.name: (lambda member_id, row=row: member_id == row.member_id)
                        for row in table.rows
                    }
                else:
                    field = "department_id" if holder.kind == "company" else "team_id"
                    names = {None: "No department" if holder.kind == "company" else "No team"}
                    units = (
                        (org.sales, org.support)
                        if holder.kind == "company"
                        else (org.north, org.south, org.care)
                    )
                    names.update({unit.id: unit.name for unit in units})
                    group = {
                        row.name: (
                            lambda member_id, row=row, field=field, names=names: (
                                names[getattr(members[member_id], field)] == row.name
                            )
                        )
                        for row in table.rows
                    }
                for row in table.rows:
                    for figure, value in zip(figures, row.values, strict=True):
                        kind = next(kind for kind in (*KINDS, "conversion") if kpis[kind].id == figure.kpi.id)

                        def actions_of(name, row=row, window=window, belongs=belongs, group=group):
                            in_row = group[row.name]
                            return [
                                action
                                for action in actions_in(live, kpis[name], belongs, window)
                                if in_row(action.member_id)
                            ]

                        expected = (
                            brute_conversion(actions_of)
                            if kind == "conversion"
                            else brute(kind, actions_of(kind))
                        )
                        assert value == shown(expected), (
                            holder,
                            window,
                            by,
                            row.name,
                            kind,
                        )  # shown to the cent


def brute_in(kind: str, kpis: dict, live: list[KpiAction], belongs, window: Window) -> Decimal | None:
    """The brute-force figure of ``kind`` (or the conversion formula) for a holder and window."""

    def actions_of(name):
        return actions_in(live, kpis[name], belongs, window)

    return brute_conversion(actions_of) if kind == "conversion" else brute(kind, actions_of(kind))


def charted(value: float | None) -> Decimal | None:
    """A chart's number (JSON float) to the cent, as the table shows it."""
    return None if value is None else shown(Decimal(str(value)))


def test_the_trend_chart_and_the_pacing_line_show_each_figure_from_the_actions(world):
    org, kpis = world
    with company_context(org.company.id):
        members = {member.user_id: member for member in Member.objects.all()}
        live = list(KpiAction.objects.filter(voided_at__isnull=True))
        window = window_of("month", datetime.date(2026, 9, 10), TODAY)
        for holder in holders(org)[:4]:
            belongs = in_holder(holder, members)
            for kind in (*KINDS, "conversion"):
                chart = selectors.kpi_chart(holder, kpis[kind], window, periods=4)
                for back, actual in zip(range(3, -1, -1), chart["trend"]["actual"], strict=True):
                    each = window.shifted(back)

                    expected = brute_in(kind, kpis, live, belongs, each)
                    assert charted(actual) == shown(expected), (holder, each, kind)
                # The pacing line: on each day up to today, the figure from the month's first day.
                for offset, actual in enumerate(chart["pacing"]["actual"]):
                    day = window.start + datetime.timedelta(days=offset)
                    if day > TODAY:
                        assert actual is None
                        continue
                    expected = brute_in(kind, kpis, live, belongs, Window(CUSTOM, window.start, day, TODAY))
                    assert charted(actual) == shown(expected), (holder, day, kind)


# --- Targets of levels and of quantities --------------------------------------------------------------


def test_a_levels_target_is_not_pro_rated_and_a_sums_is(org):
    company = org.company
    with company_context(company.id):
        csat = make_active_kpi(company, aggregation="average")
        calls = make_active_kpi(company)
        make_target(kpi=csat, period="month", start=datetime.date(2026, 11, 1), value="4.5")
        make_target(kpi=calls, period="month", start=datetime.date(2026, 11, 1), value="300")
        actions_record(
            items=[
                {"kpi": csat, "user": org.member, "value": "5", "occurred_at": "2026-11-03T10:00:00+03:00"},
                {"kpi": csat, "user": org.seller, "value": "4", "occurred_at": "2026-11-04T10:00:00+03:00"},
                {
                    "kpi": calls,
                    "user": org.member,
                    "value": "120",
                    "occurred_at": "2026-11-05T10:00:00+03:00",
                },
            ]
        )
        tenth = window_of("month", datetime.date(2026, 11, 10), datetime.date(2026, 11, 10))
        by_kpi = {
            f.kpi.id: f
            for f in dashboards.kpi_figures(dashboards.company_holder("Acme"), [csat, calls], tenth, ["en"])
        }
    average, total = by_kpi[csat.id], by_kpi[calls.id]
    assert (average.total, average.target, average.expected) == (
        Decimal("4.50"),
        Decimal("4.5"),
        Decimal("4.5"),
    )
    assert average.pace == Decimal(100)
    assert (total.total, total.target, total.expected) == (
        Decimal("120.00"),
        Decimal("300.00"),
        Decimal("100.00"),
    )
    # a week of the month: the level's target stays 4.5, the sum's is its seven days' share
    week = Window("week", datetime.date(2026, 11, 2), datetime.date(2026, 11, 8), datetime.date(2026, 11, 10))
    with company_context(company.id):
        by_kpi = {
            f.kpi.id: f
            for f in dashboards.kpi_figures(dashboards.company_holder("Acme"), [csat, calls], week, ["en"])
        }
    assert by_kpi[csat.id].target == Decimal("4.5")
    assert by_kpi[calls.id].target == Decimal("70.00")


@pytest.mark.parametrize(
    ("direction", "green", "amber", "value", "light"),
    [
        ("higher_is_better", "100", "80", "90", "amber"),
        ("higher_is_better", "90", "50", "90", "green"),
        ("higher_is_better", "120", "95", "90", "red"),
        ("lower_is_better", "100", "80", "5", "amber"),  # 4 / 5 = 80 % of pace
        ("lower_is_better", "75", "50", "5", "green"),
        ("lower_is_better", "100", "90", "5", "red"),
    ],
)
def test_a_kpis_own_bands_decide_its_light_both_ways(org, direction, green, amber, value, light):
    company = org.company
    with company_context(company.id):
        kpi = make_active_kpi(
            company, aggregation="average", direction=direction, threshold_green=green, threshold_amber=amber
        )
        make_target(
            kpi=kpi,
            period="month",
            start=datetime.date(2026, 11, 1),
            value="100" if direction == "higher_is_better" else "4",
        )
        actions_record(
            items=[
                {
                    "kpi": kpi,
                    "user": org.member,
                    "value": value if direction == "lower_is_better" else "90",
                    "occurred_at": "2026-11-03T10:00:00+03:00",
                }
            ]
        )
        month = window_of("month", datetime.date(2026, 11, 10), datetime.date(2026, 11, 10))
        [figure] = dashboards.kpi_figures(dashboards.company_holder("Acme"), [kpi], month, ["en"])
    assert figure.light == light


# --- The figures API (API.md "Figures") ---------------------------------------------------------------


@pytest.fixture
def csat(org):
    """An average KPI with a monthly target of 4.5 and three answers in November 2026."""
    company = org.company
    with company_context(company.id):
        kpi = make_active_kpi(company, integration_name="csat", aggregation="average")
        make_target(kpi=kpi, period="month", start=datetime.date(2026, 11, 1), value="4.5")
        actions_record(
            items=[
                {"kpi": kpi, "user": org.member, "value": "5", "occurred_at": "2026-11-03T10:00:00+03:00"},
                {"kpi": kpi, "user": org.member, "value": "4", "occurred_at": "2026-11-04T10:00:00+03:00"},
                {"kpi": kpi, "user": org.carer, "value": "4.5", "occurred_at": "2026-11-05T10:00:00+03:00"},
            ]
        )
    return kpi


def test_the_figures_api_answers_what_the_dashboard_shows(org, csat, client_for):
    answer = client_for(org.admin).get(
        f"/api/v1/kpis/{csat.id}/figures/", {"period": "month", "date": "2026-11-10"}
    )
    assert answer.status_code == 200, answer.json()
    assert answer.json() == {
        "kpi": csat.id,
        "period": {"start": "2026-11-01", "end": "2026-11-30"},
        "scope": "company",
        "value": "4.50",
        "count": 3,
        "target": "4.50",
        "expected": "4.50",
        "progress": "100.00",
        "pace": "100.00",
        "status": "green",
    }
    team = client_for(org.lead).get(
        f"/api/v1/kpis/{csat.id}/figures/",
        {"from": "2026-11-01", "to": "2026-11-30", "scope": f"team:{org.north.id}"},
    )
    assert (team.json()["value"], team.json()["count"], team.json()["target"]) == ("4.50", 2, None)


def test_the_figures_api_follows_the_callers_reach(org, csat, client_for, token_client):
    url = f"/api/v1/kpis/{csat.id}/figures/"
    member = client_for(org.member)
    assert member.get(url, {"scope": f"team:{org.north.id}"}).status_code == 200  # their own team
    assert member.get(url, {"scope": f"user:{org.member.user_id}"}).status_code == 200  # themselves
    for scope in (
        "company",
        f"department:{org.sales.id}",
        f"team:{org.care.id}",
        f"user:{org.carer.user_id}",
    ):
        answer = member.get(url, {"scope": scope})
        assert answer.status_code == 404, scope
    manager = client_for(org.manager)
    assert manager.get(url, {"scope": f"department:{org.sales.id}"}).status_code == 200
    assert manager.get(url, {"scope": f"department:{org.support.id}"}).status_code == 404
    token = token_client(org.company, scopes=("read",))
    assert (
        token.get(url, {"scope": f"user:{org.carer.user_id}", "date": "2026-11-10"}).json()["value"] == "4.50"
    )


@pytest.mark.parametrize(
    ("query", "code", "field"),
    [
        ({"period": "all"}, "period_invalid", "period"),
        ({"period": "month", "from": "2026-11-01", "to": "2026-11-02"}, "invalid", "from"),
        ({"from": "2026-11-05", "to": "2026-11-01"}, "invalid", "from"),
        ({"date": "11/10/2026"}, "invalid", "date"),
        ({"scope": "person:3"}, "scope_invalid", "scope"),
        ({"scope": "user:abc"}, "scope_invalid", "scope"),
    ],
)
def test_the_figures_api_refuses_bad_queries_with_their_codes(org, csat, client_for, query, code, field):
    answer = client_for(org.admin).get(f"/api/v1/kpis/{csat.id}/figures/", query)
    assert answer.status_code == 400
    assert [(error["code"], error["field"]) for error in answer.json()["errors"]] == [(code, field)]


def test_another_companys_kpi_and_people_have_no_figures(org, csat, other_admin_member, client_for):
    assert client_for(other_admin_member).get(f"/api/v1/kpis/{csat.id}/figures/").status_code == 404
    with company_context(other_admin_member.company_id):
        theirs = make_active_kpi(other_admin_member.company, integration_name="theirs")
    answer = client_for(other_admin_member).get(
        f"/api/v1/kpis/{theirs.id}/figures/", {"scope": f"user:{org.member.user_id}"}
    )
    assert answer.status_code == 404


def test_a_calculated_kpi_takes_no_actions(org):
    company = org.company
    with company_context(company.id):
        make_active_kpi(company, integration_name="won")
        rate = make_active_kpi(company, integration_name="rate", formula="won * 2")
        with pytest.raises(DomainError) as excinfo:
            actions_record(items=[{"kpi": "rate", "user": org.member, "value": "1"}])
    assert [(error.code, error.field) for error in excinfo.value.errors] == [("kpi_is_calculated", "kpi")]
    assert rate.is_calculated


# --- A KPI's bands on every page, report and export (K11) ----------------------------------------------


def test_a_kpis_bands_change_the_light_on_the_dashboard_the_report_and_the_export(
    client, company, make_member
):
    from kpis.services import kpi_update
    from ratings import reports
    from ratings.tests.pages_org import build_org, record

    org = build_org(company, make_member)
    with company_context(company.id):
        make_target(
            kpi=org.calls,
            period="month",
            start=datetime.date(2026, 11, 1),
            value="300",
            scope="team",
            team=org.alpha,
        )
    record(company, (org.ann, org.calls, 90, "2026-11-03"))  # 90 of the 100 expected by the 10th: 90 %
    client.force_login(org.lead.user)
    url = f"/dashboards/teams/{org.alpha.id}/"
    query = {"period": "month", "date": "2026-11-10"}
    tenth = window_of("month", datetime.date(2026, 11, 10), datetime.date(2026, 11, 10))

    def lights() -> tuple[str, str, str]:
        with company_context(company.id):
            holder = dashboards.team_holder(org.alpha)
            [shown] = [
                f
                for f in reports.section(holder, tenth, ["en"]).primary
                + reports.section(holder, tenth, ["en"]).secondary
                if f.kpi.id == org.calls.id
            ]
        export = client.get(url + "export.csv", query)
        rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode("utf-8-sig"))))
        status = next(row for row in rows if row[0] == org.calls.name_en)[rows[0].index("Status")]
        page = client.get(url, query)
        dot = re.search(
            rf'data-kpi="{org.calls.id}".*?class="light light-(\w+)"', page.content.decode(), re.S
        )[1]
        return shown.light, status, dot

    with time_machine.travel(datetime.datetime(2026, 11, 10, 12, tzinfo=company.zone), tick=False):
        assert lights() == ("amber", "Slightly behind", "amber")  # the default bands: amber from 80 %
        with company_context(company.id):
            kpi_update(kpi=org.calls, threshold_green="85", threshold_amber="50")
        assert lights() == ("green", "On track", "green")
        with company_context(company.id):
            kpi_update(kpi=org.calls, threshold_green="150", threshold_amber="95")
        assert lights() == ("red", "Behind", "red")


@pytest.mark.parametrize("by", [selectors.BY_MEMBERS, selectors.BY_ORG_UNITS])
def test_a_breakdown_pages_through_every_row_once_in_the_kpis_order(world, by, monkeypatch):
    """Issue 16: the breakdown by person is paged and ordered by a KPI's figure in the KPI's
    direction (best first, no value last) or by points; the pages together hold every row once."""
    org, kpis = world
    monkeypatch.setattr(selectors, "BREAKDOWN_LIMIT", 2)
    with company_context(org.company.id):
        kpis["min"].direction = "lower_is_better"
        kpis["min"].save(update_fields=["direction"])
        shown_kpis = [kpis[kind] for kind in KINDS] + [kpis["conversion"]]
        holder = dashboards.company_holder("Acme")
        window = Window(CUSTOM, FIRST_DAY, FIRST_DAY + datetime.timedelta(days=DAYS), TODAY)
        figures = dashboards.kpi_figures(holder, shown_kpis, window, ["en"])
        everyone = selectors.breakdown(holder, figures, window, by, sort="", page=1)
        columns = [figure.kpi.id for figure in figures]  # the page's order of the KPIs
        for kpi in [*shown_kpis, None]:
            sort = str(kpi.id) if kpi else "points"
            first = selectors.breakdown(holder, figures, window, by, sort=sort, page=1)
            assert first.sort == sort
            assert first.pages == -(-first.count // 2)
            assert first.count == everyone.count
            rows = [
                row
                for page in range(1, first.pages + 1)
                for row in selectors.breakdown(holder, figures, window, by, sort=sort, page=page).rows
            ]
            assert len(rows) == first.count == len({row.name for row in rows})
            values = [row.points if kpi is None else row.values[columns.index(kpi.id)] for row in rows]
            present = [value for value in values if value is not None]
            assert values == present + [None] * (len(values) - len(present)), (sort, values)
            best_first = kpi is None or kpi.direction != "lower_is_better"
            assert present == sorted(present, reverse=best_first), (sort, values)
        last = selectors.breakdown(holder, figures, window, by, sort="points", page=10**6)
        assert last.page == last.pages
        assert last.last == last.count


@pytest.mark.parametrize("spare", [0, 16])
def test_people_in_the_order_of_a_kpi_are_the_actions_order_page_by_page(world, monkeypatch, spare):
    """Issue 16: a breakdown by person ordered by a KPI's figure holds, page by page, the unit's
    people in the order their actions give: best first in either direction, ties by user id, then
    those with no figure (a sum or a count of nothing is 0, among the others); someone deactivated
    is left out, also when only as many of those with a figure are read as the page needs
    (``spare`` 0: the read is widened until the page is full)."""
    org, kpis = world
    monkeypatch.setattr(ratings_selectors, "_SPARE", spare)
    with company_context(org.company.id):
        # two people tie at the top of the highest and of the lowest values
        moment = datetime.datetime.combine(FIRST_DAY, datetime.time(9), tzinfo=org.company.zone).isoformat()
        actions_record(
            items=[
                {"kpi": kpis[kind].integration_name, "user": person, "value": value, "occurred_at": moment}
                for kind, value in (("max", "5000"), ("min", "0"))
                for person in (org.direct, org.member)
            ]
        )
        org.seller.user.is_active = False
        org.seller.user.save(update_fields=["is_active"])
        live = list(KpiAction.objects.filter(voided_at__isnull=True))
        members = {member.user_id: member for member in Member.objects.all()}
        checked = 0
        for holder in holders(org)[:6]:
            belongs = in_holder(holder, members)
            people = active_people(holder.scope.members_condition(prefix=""))
            ids = list(people.values_list("user_id", flat=True))
            for window in windows()[::3]:
                for kind in ("sum", "count", "average", "min", "max"):
                    kpi = kpis[kind]
                    shown = {
                        member_id: brute(kind, actions_in(live, kpi, lambda m, i=member_id: m == i, window))
                        for member_id in ids
                    }
                    rows = dashboards.daily_totals(holder, [kpi], window.start, window.end)
                    parts = [rows.values("member_id", "value", "points", "actions", "low", "high")]
                    for descending in (True, False):
                        expected = sorted(
                            ids,
                            key=lambda i: (
                                shown[i] is None,
                                0 if shown[i] is None else -shown[i] if descending else shown[i],
                                i,
                            ),
                        )
                        for offset in range(0, len(ids) + 2, 2):
                            page = people_in_order(
                                people, parts, kind, descending=descending, limit=2, offset=offset
                            )
                            assert page == expected[offset : offset + 2], (holder, window, kind, offset)
                            checked += len(page)
            assert not belongs(org.seller.user_id) or org.seller.user_id not in ids
        assert checked > 500


def test_a_breakdown_by_points_in_a_calendar_period_reads_the_ratings_in_their_order(world):
    """Issue 16: by points in a week, month, quarter or year a page is read down the period's rank
    index (``people_by_rating``); it holds the same people in the same order as the sums of the
    ratings' parts (``people_in_order``), page after page, at every scope, with people at zero
    and someone deactivated."""
    org, _kpis = world
    with company_context(org.company.id):
        org.seller.user.is_active = False
        org.seller.user.save(update_fields=["is_active"])
        checked = 0
        for holder in holders(org)[:6]:
            people = Member.objects.filter(holder.scope.members_condition(prefix=""), user__is_active=True)
            size = people.count()
            for window in windows():
                if window.kind == CUSTOM:
                    continue
                parts = [
                    part.values("member_id", "points") for part in rating_parts(window.start, window.end)
                ]
                for offset in range(0, size + 2, 2):
                    fast = people_by_rating(people, window.kind, window.start, limit=2, offset=offset)
                    assert fast == people_in_order(
                        people, parts, "points", descending=True, limit=2, offset=offset
                    ), (holder, window, offset)
                    checked += bool(fast)
        assert checked > 50


# --- Against earlier windows (issue 18) -----------------------------------------------------------------


def test_each_figures_change_and_sparkline_equal_the_actions_of_the_earlier_windows(world):
    """The previous window's figure (a range: the days of equal length just before it), the change
    in percent of it, the same window a year before and the last six windows' figures, each from
    the actions, for every aggregation and formula, at the company's, a department's and a team's
    scope."""
    org, kpis = world
    with company_context(org.company.id):
        members = {member.user_id: member for member in Member.objects.all()}
        # some of the actions again 52 weeks earlier (same weekday), for the year before
        again = random.Random(3).sample(list(KpiAction.objects.filter(voided_at__isnull=True)), 200)
        actions_record(
            items=[
                {
                    "kpi": action.kpi,
                    "user": members[action.member_id],
                    "value": str(action.value),
                    "occurred_at": (action.occurred_at - datetime.timedelta(weeks=52)).isoformat(),
                }
                for action in again
            ]
        )
        live = list(KpiAction.objects.filter(voided_at__isnull=True))
        shown_kpis = [kpis[kind] for kind in KINDS] + [kpis["conversion"]]
        kind_of = {kpis[kind].id: kind for kind in (*KINDS, "conversion")}
        changed = years = 0
        for holder in holders(org)[:4]:  # the company, both departments, a team
            belongs = in_holder(holder, members)
            for window in windows():
                figures = dashboards.kpi_figures(holder, shown_kpis, window, ["en"])
                dashboards.compare_figures(holder, figures, window)
                previous = window.shifted(1)
                if window.kind == CUSTOM:
                    assert previous.end == window.start - datetime.timedelta(days=1)
                    assert previous.days == window.days
                for figure in figures:
                    kind = kind_of[figure.kpi.id]
                    before = shown(brute_in(kind, kpis, live, belongs, previous))
                    assert figure.change.before == before, (holder, window, kind)
                    assert figure.change.label == previous.label
                    if figure.total is None or not before:
                        assert figure.change.percent is None
                        assert figure.change.tone == "none"
                    else:
                        percent = ((figure.total - before) * 100 / before).quantize(
                            CENT, rounding=ROUND_HALF_UP
                        )
                        assert figure.change.percent == percent, (holder, window, kind)
                        assert figure.change.tone == (
                            "good" if percent > 0 else "bad" if percent < 0 else "flat"
                        )
                        changed += 1
                    assert figure.history == [
                        shown(brute_in(kind, kpis, live, belongs, window.shifted(back)))
                        for back in range(5, -1, -1)
                    ], (holder, window, kind)
                    year = dashboards.year_before(window)
                    if year is None:  # a year: the year before is the previous window
                        assert figure.year_change is None
                        continue
                    year_before = brute_in(kind, kpis, live, belongs, year)
                    had_data = (
                        year_before is not None
                        if kind == "conversion"
                        else bool(actions_in(live, figure.kpi, belongs, year))
                    )
                    if not had_data or any(  # a range's year before that overlaps the sparkline's
                        year.start <= each.end and each.start <= year.end
                        for each in (window.shifted(back) for back in range(1, 6))
                        if (each.start, each.end) != (year.start, year.end)
                    ):
                        assert figure.year_change is None, (holder, window, kind)
                        continue
                    assert figure.year_change.before == shown(year_before), (holder, window, kind)
                    assert figure.year_change.label == year.label
                    years += 1
        assert changed > 100
        assert years > 50


def test_a_year_before_is_the_same_week_month_quarter_or_range_of_the_year_before():
    on = datetime.date(2026, 11, 10)
    assert dashboards.year_before(window_of("week", on, on)).start == datetime.date(2025, 11, 10)  # a Monday
    assert dashboards.year_before(window_of("month", on, on)).start == datetime.date(2025, 11, 1)
    assert dashboards.year_before(window_of("quarter", on, on)).start == datetime.date(2025, 10, 1)
    assert dashboards.year_before(window_of("year", on, on)) is None  # its previous window
    leap = Window(CUSTOM, datetime.date(2028, 2, 1), datetime.date(2028, 2, 29), on)
    assert (dashboards.year_before(leap).start, dashboards.year_before(leap).end) == (
        datetime.date(2027, 2, 1),
        datetime.date(2027, 2, 28),
    )


def brute_period_latest(live: list[KpiAction], level_ids: set[int]) -> dict[tuple, tuple]:
    """Each person's latest action (by time, then id) of each level KPI in each week, month,
    quarter and year, from the live actions."""
    found: dict[tuple, KpiAction] = {}
    for action in live:
        if action.kpi_id not in level_ids:
            continue
        for period in ("week", "month", "quarter", "year"):
            key = (action.kpi_id, period, kpi_calendar.period_start(period, action.day), action.member_id)
            known = found.get(key)
            if known is None or (action.occurred_at, action.id) > (known.occurred_at, known.id):
                found[key] = action
    return {key: (action.value, action.occurred_at, action.id) for key, action in found.items()}


def kept_period_latest() -> dict[tuple, tuple]:
    rows = PeriodLatest.objects.values_list(
        "kpi_id", "period", "start", "member_id", "last_value", "last_at", "last_action_id"
    )
    return {tuple(row[:4]): tuple(row[4:]) for row in rows}


def test_the_people_s_latest_values_kept_per_period_equal_the_actions_and_a_rebuild(world):
    """K11 ``last``: the rows a level's whole periods are read from (``PeriodLatest``) are each
    person's latest action in each week, month, quarter and year, through batches, voids (60 of
    them) and moves; the rebuild computes the same rows and corrects none."""
    org, kpis = world
    with company_context(org.company.id):
        live = list(KpiAction.objects.filter(voided_at__isnull=True))
        expected = brute_period_latest(live, {kpis["last"].id})
        assert len(expected) > 100
        assert kept_period_latest() == expected
        assert aggregates_rebuild().corrected == 0
        assert kept_period_latest() == expected


def test_a_kpi_that_becomes_a_level_gets_its_latest_values_and_loses_them_after(world):
    """K11: a KPI's aggregation may change; become ``last``, its figures are people's latest
    values at once (built from the days), and turned back to a sum, its kept values go."""
    org, kpis = world
    kpi = kpis["sum"]
    with company_context(org.company.id):
        live = list(KpiAction.objects.filter(voided_at__isnull=True))
        members = {member.user_id: member for member in Member.objects.all()}
        kpi_update(kpi=kpi, aggregation="last")
        kpi.refresh_from_db()
        assert kept_period_latest() == brute_period_latest(live, {kpis["last"].id, kpi.id})
        for holder in holders(org):
            belongs = in_holder(holder, members)
            for window in windows():
                (figure,) = dashboards.kpi_figures(holder, [kpi], window, ["en"])
                assert figure.total == shown(brute("last", actions_in(live, kpi, belongs, window)))
        kpi_update(kpi=kpi, aggregation="sum")
        assert kept_period_latest() == brute_period_latest(live, {kpis["last"].id})
        assert aggregates_rebuild().corrected == 0
