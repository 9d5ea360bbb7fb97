"""What a page shows, assembled for its template (API.md "Pages"): the period picker, the unit
and scope switchers, a KPI's charts, the breakdown by person or sub-unit, a unit's leaderboard, a
person's rating over time and latest actions. Only the pages read these; the figures they start
from (``ratings.dashboards``) also make the KPI report.

Every function runs a fixed number of queries whatever the number of people, KPIs or actions.
"""

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import urlencode

from django.db.models import Q
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from kpis.models import Aggregation, Direction, Kpi, KpiKind, KpiStatus, Target, TargetScope
from kpis.numbers import rounded
from kpis.selectors import KpiReach, kpis_reaching
from orgs import access
from orgs.i18n import localized
from orgs.models import Department, Member, Team
from orgs.selectors import active_people
from ratings import dashboards, figures
from ratings.dashboards import CENT, Holder, KpiFigure
from ratings.models import KpiAction, RatingPeriod, RatingTotal
from ratings.selectors import (
    Leaderboard,
    Scope,
    leaderboard,
    leaderboard_range,
    people_by_rating,
    people_in_order,
    range_cover,
    rating_parts,
    ratings_of,
)
from ratings.windows import CUSTOM, Window, window_of

TREND_PERIODS = 6


# --- Pickers and switchers ----------------------------------------------------------------------------


def period_picker(window: Window, **keep) -> dict:
    """The period picker's context; ``keep``: parameters that survive a change of period."""
    kinds = [
        ("week", _("Week")),
        ("month", _("Month")),
        ("quarter", _("Quarter")),
        ("year", _("Year")),
        (CUSTOM, _("Custom range")),
    ]
    kept = [(name, value) for name, value in keep.items() if value]
    return {
        "window": window,
        "query": urlencode(window.query),
        "periods": period_links(window.kind),
        "period_kinds": kinds,
        "previous_query": urlencode(window.shifted(1).query),
        "next_query": urlencode(window.following().query),
        "keep": kept,
        "extra": f"&{urlencode(kept)}" if kept else "",
    }


def period_links(current: str, *, all_time: bool = False) -> list[tuple[str, str, bool]]:
    """The period picker's quick links to today's week, month, quarter, year (and all time):
    (label, period, current)."""
    labels = {"week": _("Week"), "month": _("Month"), "quarter": _("Quarter"), "year": _("Year")}
    if all_time:
        labels[RatingPeriod.ALL] = _("All time")
    return [(label, kind, current == kind) for kind, label in labels.items()]


def chosen_figure(figures: list[KpiFigure], wanted: str) -> KpiFigure | None:
    """The KPI whose charts are drawn: ``?kpi=ID`` among the page's, else the first primary KPI
    with a target (the one to pace), preferring one that counts in the rating."""
    ranked = sorted(
        figures,
        key=lambda figure: (figure.kpi.kind != "primary", figure.target is None, not figure.kpi.in_rating),
    )
    return next((figure for figure in figures if str(figure.kpi.id) == wanted), ranked[0] if ranked else None)


def kpi_sections(
    holder: Holder,
    figures: list[KpiFigure],
    window: Window,
    *,
    wanted: str,
    secondary_window: Window | None = None,
) -> dict:
    """What ``_kpi_sections.html`` draws on a dashboard and a profile: primary KPIs apart from
    secondary ones (K6), and the chosen KPI's charts (3 queries when there is one). The secondary
    KPIs' figures are of ``secondary_window`` where it is another period than ``window`` (O1: their
    own tracking frequency), which their heading then names."""
    primary, secondary = dashboards.split_by_kind(figures)
    chosen = chosen_figure(figures, wanted)
    own = secondary_window if secondary_window not in (None, window) else None
    chart_window = own if own and chosen and chosen.kpi.kind != KpiKind.PRIMARY else window
    return {
        "holder": holder,
        "window": window,
        "secondary_window": own,
        "primary": primary,
        "secondary": secondary,
        "chosen": chosen,
        "chart_window": chart_window,
        "chart_query": urlencode(chart_window.query),  # the KPI's page opens on the chart's period
        "chart": kpi_chart(holder, chosen.kpi, chart_window) if chosen else None,
    }


# --- At a glance (issue 18): the goal summary, the filter by status, the sparklines ----------------

# The statuses in the order the summary names them: the traffic lights of the table (K9, K11).
STATUSES = (dashboards.GREEN, dashboards.AMBER, dashboards.RED, dashboards.NONE)


@dataclass
class GoalSummary:
    """How many of the dashboard's KPIs are at each status, and the status its rows are filtered
    by ("" for none)."""

    total: int
    counts: dict[str, int]
    status: str = ""


def goal_summary(shown: list[KpiFigure], status: str) -> GoalSummary:
    counts = dict.fromkeys(STATUSES, 0)
    for figure in shown:
        counts[figure.light] += 1
    return GoalSummary(total=len(shown), counts=counts, status=status if status in STATUSES else "")


def with_status(shown: list[KpiFigure], status: str) -> list[KpiFigure]:
    """The figures at ``status`` (anything else: all of them)."""
    return [figure for figure in shown if figure.light == status] if status in STATUSES else shown


def sparklines(shown: list[KpiFigure], window: Window) -> dict[str, dict]:
    """Per KPI id, the figures of the last windows (``dashboards.compare_figures``) for its tile's
    sparkline, as JSON for the page."""
    periods = max((len(figure.history) for figure in shown), default=0)
    labels = [window.shifted(back).short_label for back in range(periods - 1, -1, -1)]
    return {
        str(figure.kpi.id): {"labels": labels, "values": [_number(value) for value in figure.history]}
        for figure in shown
        if figure.history
    }


def dashboard_switch(viewer: Member, holder: Holder | None = None) -> list[tuple[str, str, bool]]:
    """The dashboards the viewer may open, for the unit switcher: (label, url, current). Someone
    with department dashboards gets the teams of the department in view only (a company of 500
    teams would otherwise list them all on every page); the index page lists everything."""
    holder = holder or Holder("")
    links = []
    if access.may_see_company_dashboard(viewer):
        links.append((_("Company"), "/dashboards/company/", holder.kind == "company"))
    departments = list(access.dashboard_departments(viewer))
    for department in departments:
        current = holder.kind == "department" and holder.id == department.id
        links.append((department.name, f"/dashboards/departments/{department.id}/", current))
    teams = access.dashboard_teams(viewer)
    if departments and holder.kind != "":
        in_view = holder.id if holder.kind == "department" else holder.department_id
        teams = teams.filter(department_id=in_view)
    for team in teams:
        current = holder.kind == "team" and holder.id == team.id
        links.append((f"{team.department.name} / {team.name}", f"/dashboards/teams/{team.id}/", current))
    return links


def scope_choices(viewer: Member, scope: Scope) -> list[tuple[str, str]]:
    """The scope picker: the company, the departments the viewer sees, and their teams; with
    several departments, only the teams of the department in view (as the dashboard switcher)."""
    scopes = [("company", _("Whole company"))]
    departments = list(access.visible_departments(viewer).order_by("name", "id"))
    scopes += [(f"department:{unit.id}", unit.name) for unit in departments]
    teams = access.visible_teams(viewer).select_related("department").order_by("department__name", "name")
    if len(departments) > 1 and scope.kind == "department":
        teams = teams.filter(department_id=scope.org_unit_id)
    elif len(departments) > 1 and scope.kind == "team":
        teams = teams.filter(department__teams__id=scope.org_unit_id)
    elif len(departments) > 1:
        teams = teams.none()
    scopes += [(f"team:{team.id}", f"{team.department.name} / {team.name}") for team in teams]
    return scopes


@dataclass
class LoggerChoices:
    """What the activity logger offers (O5): the people the viewer records for, by team; the KPIs
    that reach any of them, by name, as (id, name, unit); and for each person (by user id) the
    ids of the KPIs that reach them (K6, K8), for the page to narrow each row's KPIs."""

    people: list[Member]
    groups: list[tuple[str, list[Member]]]
    kpis: list[tuple[int, str, str]]
    offered: dict[int, list[int]]
    live: dict[int, Kpi]  # every KPI that takes actions, whether it reaches anyone here or not
    names: dict[int, str]  # their names in the viewer's languages


def logger_choices(viewer: Member, languages: list[str]) -> LoggerChoices:
    """The logger's people and KPIs: Active, not calculated (K11), reaching the person through
    their team, department or the company, not hidden for them, within the audience (K6, K8).
    A fixed number of queries: the people, the KPIs, their hides and their audiences."""
    people = list(access.recordable_members(viewer).select_related("team", "department"))
    if not people:
        return LoggerChoices([], [], [], {}, {}, {})
    kpis = list(
        Kpi.objects.filter(status=KpiStatus.ACTIVE, archived_at__isnull=True, formula="").select_related(
            "unit"
        )
    )
    reach = KpiReach.load([kpi.id for kpi in kpis])
    offered = {member.user_id: [kpi.id for kpi in kpis if reach.reaches(kpi, member)] for member in people}
    reaching = {kpi_id for ids in offered.values() for kpi_id in ids}
    names = {kpi.id: localized(kpi, "name", languages) for kpi in kpis}
    choices = sorted(
        (
            (kpi.id, names[kpi.id], localized(kpi.unit, "name", languages))
            for kpi in kpis
            if kpi.id in reaching
        ),
        key=lambda choice: choice[1].casefold(),
    )
    by_unit: dict[str, list[Member]] = defaultdict(list)
    for member in people:
        by_unit[_unit_label(member)].append(member)
    unassigned = _("No team")
    groups = sorted(by_unit.items(), key=lambda group: (group[0] == unassigned, group[0].casefold()))
    return LoggerChoices(people, groups, choices, offered, {kpi.id: kpi for kpi in kpis}, names)


def _unit_label(member: Member) -> str:
    if member.team_id:
        return f"{member.department.name} / {member.team.name}"
    if member.department_id:
        return member.department.name
    return _("No team")


def logger_recent(viewer: Member, languages: list[str], *, limit: int = 10) -> list[tuple]:
    """What the viewer recorded last, newest first (from any source), with the KPI's and its unit's
    names: (action, KPI name, unit name). Two queries at most: the actions with their people and
    KPIs, and nothing per row."""
    actions = (
        KpiAction.objects.filter(recorded_by_id=viewer.user_id)
        .select_related("member__user", "kpi__unit")
        .order_by("-id")[:limit]
    )
    return [
        (action, localized(action.kpi, "name", languages), localized(action.kpi.unit, "name", languages))
        for action in actions
    ]


# --- Charts: the trend over the last periods and the pace within this one ----------------------------


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def kpi_chart(holder: Holder, kpi: Kpi, window: Window, *, periods: int = TREND_PERIODS) -> dict:
    """Chart data for one KPI (D3, D4), as JSON for the page: its figure (K11) in each of the last
    ``periods`` windows against their targets, and this window day by day, the figure so far
    against where it should be by that day (the expected-to-date line; a level's target holds on
    every day). 3 queries, 4 with a latest value, 5 with a formula."""
    windows = [window.shifted(back) for back in range(periods - 1, -1, -1)]
    tallied = figures.with_sources([kpi])
    days = _day_tallies(holder, tallied, windows[0].start, window.end)
    targets = dashboards.holder_targets(holder, [kpi], since=windows[0].start, until=window.end).get(
        kpi.id, []
    )

    def figure(first: datetime.date, last: datetime.date) -> float | None:
        span = [tallies for day, tallies in days.items() if first <= day <= last]
        return _number(figures.figure_of(kpi, figures.merged_by_key(*span), tallied))

    def target_between(target, first: datetime.date, last: datetime.date) -> float | None:
        if target is None:
            return None
        if kpi.is_level:
            return _number(dashboards.level_target(target, first, last))
        return _number(dashboards.target_share(target, first, last))

    trend = {"labels": [], "actual": [], "target": []}
    for each in windows:
        trend["labels"].append(each.short_label)
        trend["actual"].append(figure(each.start, each.end))
        trend["target"].append(
            target_between(dashboards.covering_target(targets, each), each.start, each.end)
        )
    target = dashboards.covering_target(targets, window)
    pacing = {"labels": [], "actual": [], "expected": []}
    so_far = figures.RunningTally()  # the window's tallies up to the day, one day added at a time
    for offset in range(window.days):
        day = window.start + datetime.timedelta(days=offset)
        pacing["labels"].append(date_format(day, "SHORT_DATE_FORMAT"))
        actual = None
        if day <= window.today:
            so_far.add(days.get(day, {}))
            actual = _number(figures.figure_of(kpi, so_far.tallies, tallied))
        pacing["actual"].append(actual)
        pacing["expected"].append(target_between(target, window.start, day))
    return {
        "trend": trend,
        "pacing": pacing,
        "has_target": target is not None,
        # Read by the page's script to write ticks and tooltips as the tables do (issue 18).
        "decimals": kpi.decimals,
        "empty": {"trend": _no_data(trend["actual"], trend["target"]), "pacing": _no_data(pacing["actual"])},
    }


def _no_data(*series: list[float | None]) -> bool:
    """Nothing to draw: no value other than zero and no target (the chart says so instead of a
    bare 0–1 axis)."""
    return not any(value for values in series for value in values)


def _day_tallies(holder: Holder, kpis: dict[int, Kpi], start: datetime.date, end: datetime.date) -> dict:
    """The holder's tallies (K11) per day and KPI id: ``{day: {kpi_id: Tally}}``."""
    recorded = [kpi for kpi in kpis.values() if not kpi.is_calculated]
    keyed = figures.tallies_of(dashboards.kpi_day_totals(holder, recorded, start, end), ["day"])
    dashboards.add_holder_latest(keyed, holder, recorded, start, end, ["day"])
    days: dict[datetime.date, dict[int, figures.Tally]] = defaultdict(dict)
    for (day, kpi_id), tally in keyed.items():
        days[day][kpi_id] = tally
    return days


# --- Breakdown by person or sub-unit ------------------------------------------------------------------

BY_MEMBERS, BY_ORG_UNITS = "members", "units"
BY_POINTS = "points"
BREAKDOWN_LIMIT = 50


@dataclass
class BreakdownRow:
    name: str
    values: list[Decimal]  # aligned with the KPIs of the breakdown
    points: Decimal
    member_id: int | None = None
    org_unit_id: int | None = None  # a department's or team's row ("no team": None)
    url: str = ""  # the unit's dashboard where the viewer may open it (``org_unit_links``)


@dataclass
class Breakdown:
    by: str
    kpis: list[KpiFigure]
    rows: list[BreakdownRow] = field(default_factory=list)
    count: int = 0  # rows in all; ``rows`` holds one page of them
    sort: str = BY_POINTS  # BY_POINTS or the id of the KPI whose figure orders the rows
    page: int = 1
    pages: int = 1

    @property
    def first(self) -> int:
        """The place of the page's first row among all rows (1-based)."""
        return (self.page - 1) * BREAKDOWN_LIMIT + 1

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1


def breakdown_choices(holder: Holder) -> list[str]:
    return [BY_MEMBERS, BY_ORG_UNITS] if holder.sub_org_unit_field else [BY_MEMBERS]


def breakdown(
    holder: Holder, shown: list[KpiFigure], window: Window, by: str, *, sort: str = "", page: int = 1
) -> Breakdown:
    """The holder's figures (K11) per person or per sub-unit (departments of the company, teams of
    a department) for the KPIs of ``shown``, one page of BREAKDOWN_LIMIT rows, ordered by points
    or by one KPI's figure in that KPI's direction (no value last): 2 queries, one more with a
    latest value, a minimum or a maximum among the company's departments, one more with a
    formula, one for the page's names; by person one more for the unit's people, every one of
    them a row, nothing recorded or not. Only the page's rows are named and shown, so a company
    of 100,000 people costs its tallies, not 100,000 rows."""
    result = Breakdown(by=by, kpis=shown)
    if not shown:
        return result
    kpis = [figure.kpi for figure in shown]
    tallied = figures.with_sources(kpis)
    recorded = [kpi for kpi in tallied.values() if not kpi.is_calculated]
    if by == BY_MEMBERS and holder.kind != TargetScope.USER:
        return _people_breakdown(result, holder, tallied, window, sort=sort, page=page)
    by_departments = by == BY_ORG_UNITS and holder.kind == TargetScope.COMPANY
    if by_departments:  # the departments' own totals (of months, where whole), not their people's
        keyed = dashboards.department_tallies(recorded, window.start, window.end)
        latest_group = ["member__department_id"]
    elif by == BY_ORG_UNITS and holder.kind == TargetScope.DEPARTMENT:  # the teams' months, where whole
        keyed = dashboards.team_tallies(holder, recorded, window.start, window.end)
        latest_group = ["member__team_id"]
    else:
        group = "member_id" if by == BY_MEMBERS else f"member__{holder.sub_org_unit_field}"
        rows = dashboards.daily_totals(holder, recorded, window.start, window.end)
        keyed = figures.tallies_of(rows, [group])
        latest_group = [group]
    dashboards.add_holder_latest(keyed, holder, recorded, window.start, window.end, latest_group)
    table: dict[int | None, dict[int, figures.Tally]] = defaultdict(dict)
    for (key, kpi_id), tally in keyed.items():
        table[key][kpi_id] = tally
    if by_departments:  # people in no department: the company's tallies less the departments'
        _add_the_rest(table, holder, recorded, window)
    shown_ids = {kpi.id for kpi in kpis}
    points = {
        key: sum((tally.points for kpi_id, tally in tallies.items() if kpi_id in shown_ids), Decimal(0))
        for key, tallies in table.items()
    }
    names: dict[int | None, str] = {}
    if by != BY_MEMBERS:
        units = (
            Department.objects.all()
            if holder.kind == TargetScope.COMPANY
            else Team.objects.filter(department_id=holder.id)
        )
        names = {unit.id: unit.name for unit in units}
        for unit_id in names:
            table.setdefault(unit_id, {})
            points.setdefault(unit_id, Decimal(0))
        if None in table:
            names[None] = _("No department") if holder.kind == TargetScope.COMPANY else _("No team")
    by_kpi = {str(kpi.id): kpi for kpi in kpis}
    result.sort = sort if sort in by_kpi else BY_POINTS
    order = _breakdown_order(by_kpi.get(result.sort), table, points, tallied)
    keys = sorted(table, key=lambda key: (*order(key), names.get(key, "").casefold(), key or 0))
    result.count = len(keys)
    result.pages = max(1, -(-len(keys) // BREAKDOWN_LIMIT))
    result.page = min(max(page, 1), result.pages)
    keys = keys[(result.page - 1) * BREAKDOWN_LIMIT : result.page * BREAKDOWN_LIMIT]
    if by == BY_MEMBERS:
        names = {
            member.user_id: str(member.user)
            for member in Member.objects.select_related("user").filter(user_id__in=keys)
        }
    result.rows = [
        BreakdownRow(
            name=names.get(key, ""),
            values=[_shown(kpi, figures.figure_of(kpi, table[key], tallied)) for kpi in kpis],
            points=points[key].quantize(CENT),
            member_id=key if by == BY_MEMBERS else None,
            org_unit_id=key if by != BY_MEMBERS else None,
        )
        for key in keys
        if by != BY_MEMBERS or key in names
    ]
    return result


def _people_breakdown(
    result: Breakdown, holder: Holder, tallied: dict[int, Kpi], window: Window, *, sort: str, page: int
) -> Breakdown:
    """The breakdown of a unit by person: everyone active in it is a row, those with nothing
    recorded too (they are who most needs a look); the points are each person's rating in the
    window, as the unit's leaderboard shows it (R6). The order is found by the database from the
    rows of the ordering KPI alone (or the ratings), and only the page's people are tallied: a
    company of 100,000 people costs one ordered pass over one KPI's rows, not every person's
    tallies of every KPI (issue 16). A level (``last``) or a calculated KPI orders in memory
    from the tallies of that KPI (and the KPIs it names) of every person in the unit."""
    kpis = [figure.kpi for figure in result.kpis]
    people = active_people(holder.scope.members_condition(prefix=""))
    by_kpi = {str(kpi.id): kpi for kpi in kpis}
    result.sort = sort if sort in by_kpi else BY_POINTS
    ordering = by_kpi.get(result.sort)
    covered = range_cover(window.start, window.end)

    def ordered(offset: int) -> list[int]:
        """A page of the people in the chosen order."""
        if ordering is None and not covered[1] and len(covered[0]) == 1:  # a calendar period's ratings
            return people_by_rating(people, *covered[0][0], limit=BREAKDOWN_LIMIT, offset=offset)
        if ordering is None:
            parts = [part.values("member_id", "points") for part in rating_parts(window.start, window.end)]
            return people_in_order(
                people, parts, "points", descending=True, limit=BREAKDOWN_LIMIT, offset=offset
            )
        if ordering.is_calculated or ordering.aggregation == Aggregation.LAST:
            return _people_ordered_in_memory(people, holder, ordering, tallied, window, offset)
        rows = dashboards.daily_totals(holder, [ordering], window.start, window.end)
        return people_in_order(
            people,
            [rows.values("member_id", "value", "points", "actions", "low", "high")],
            ordering.aggregation,
            descending=ordering.direction != Direction.LOWER_IS_BETTER,
            limit=BREAKDOWN_LIMIT,
            offset=offset,
        )

    # The page asked for; past the last page, the last page.
    result.count = people.count()
    result.pages = max(1, -(-result.count // BREAKDOWN_LIMIT))
    result.page = min(max(page, 1), result.pages)
    keys = ordered((result.page - 1) * BREAKDOWN_LIMIT)
    recorded = [kpi for kpi in tallied.values() if not kpi.is_calculated]
    table = _people_tallies(keys, recorded, window)
    points = ratings_of(keys, window.start, window.end)
    names = {
        member.user_id: str(member.user)
        for member in Member.objects.select_related("user").filter(user_id__in=keys)
    }
    result.rows = [
        BreakdownRow(
            name=names[key],
            values=[_shown(kpi, figures.figure_of(kpi, table[key], tallied)) for kpi in kpis],
            points=points[key],
            member_id=key,
        )
        for key in keys
        if key in names
    ]
    return result


def _people_tallies(
    member_ids: list[int], kpis: list[Kpi], window: Window
) -> dict[int, dict[int, figures.Tally]]:
    """Some people's tallies of ``kpis`` in the window: ``{member_id: {kpi_id: Tally}}``."""
    rows = figures.person_rows(kpis, window.start, window.end).filter(member_id__in=member_ids)
    keyed = figures.tallies_of(rows, ["member_id"])
    latest = figures.latest_kpis(kpis)
    if latest:
        figures.add_latest(
            keyed,
            figures.latest_rows(latest, window.start, window.end).filter(member_id__in=member_ids),
            ["member_id"],
        )
    table: dict[int, dict[int, figures.Tally]] = {member_id: {} for member_id in member_ids}
    for (member_id, kpi_id), tally in keyed.items():
        table[member_id][kpi_id] = tally
    return table


def _people_ordered_in_memory(
    people, holder: Holder, kpi: Kpi, tallied: dict[int, Kpi], window: Window, offset: int
) -> list[int]:
    """One page of ``people`` ordered by a figure the database cannot sum by itself: a sum of
    latest values or a formula, from every person's tallies of the KPIs it needs."""
    needed = figures.with_sources([kpi])
    recorded = [other for other in needed.values() if not other.is_calculated]
    keyed = figures.tallies_of(
        dashboards.daily_totals(holder, recorded, window.start, window.end), ["member_id"]
    )
    dashboards.add_holder_latest(keyed, holder, recorded, window.start, window.end, ["member_id"])
    table: dict[int, dict[int, figures.Tally]] = defaultdict(dict)
    for (member_id, kpi_id), tally in keyed.items():
        table[member_id][kpi_id] = tally
    sign = 1 if kpi.direction == Direction.LOWER_IS_BETTER else -1
    ordered = []
    for member_id in people.values_list("user_id", flat=True):
        value = figures.figure_of(kpi, table[member_id], needed)
        ordered.append(((1, 0) if value is None else (0, sign * value), member_id))
    ordered.sort()
    return [member_id for _order, member_id in ordered[offset : offset + BREAKDOWN_LIMIT]]


def org_unit_links(viewer: Member, holder: Holder, rows: list[BreakdownRow]) -> None:
    """Each department's or team's row of a breakdown links to its dashboard where the viewer may
    open it (O4, D3): no query."""
    for row in rows:
        if row.org_unit_id is None:
            continue
        if holder.kind == TargetScope.COMPANY and access.may_open_department_dashboard(
            viewer, row.org_unit_id
        ):
            row.url = f"/dashboards/departments/{row.org_unit_id}/"
        elif holder.kind == TargetScope.DEPARTMENT and access.may_open_team_dashboard(
            viewer, row.org_unit_id, holder.id
        ):
            row.url = f"/dashboards/teams/{row.org_unit_id}/"


def breadcrumb(viewer: Member, *, holder: Holder | None = None, person: Member | None = None) -> list:
    """Company › Department › Team (› Person) above a dashboard or a profile: (label, url), the url
    empty for the page itself and for a level the viewer may not open (O4). One query for a team
    dashboard's department name, none otherwise."""
    department = team = None
    if person is not None:
        team = person.team
        department = person.department or (team.department if team else None)
    elif holder.kind == TargetScope.DEPARTMENT:
        department = Department(id=holder.id, name=holder.name)
    elif holder.kind == TargetScope.TEAM:
        team = Team(id=holder.id, name=holder.name, department_id=holder.department_id)
        department = Department.objects.filter(id=holder.department_id).first()
    crumbs = [
        (viewer.company.name, "/dashboards/company/" if access.may_see_company_dashboard(viewer) else "")
    ]
    if department is not None:
        crumbs.append(
            (
                department.name,
                f"/dashboards/departments/{department.id}/"
                if access.may_open_department_dashboard(viewer, department.id)
                else "",
            )
        )
    if team is not None:
        crumbs.append(
            (
                team.name,
                f"/dashboards/teams/{team.id}/"
                if access.may_open_team_dashboard(viewer, team.id, team.department_id)
                else "",
            )
        )
    if person is not None:
        crumbs.append((str(person.user), ""))
    crumbs[-1] = (crumbs[-1][0], "")  # the page itself
    return crumbs


def _breakdown_order(kpi: Kpi | None, table: dict, points: dict, tallied: dict):
    """The sort key of a breakdown's row: most points first; or by the KPI's figure, best first
    in the KPI's direction (the lowest first for a lower-is-better KPI), rows with no value
    last."""
    if kpi is None:
        return lambda key: (-points[key],)
    sign = 1 if kpi.direction == Direction.LOWER_IS_BETTER else -1
    values = {key: figures.figure_of(kpi, tallies, tallied) for key, tallies in table.items()}
    return lambda key: (1, 0) if values[key] is None else (0, sign * values[key])


def _shown(kpi: Kpi, value: Decimal | None) -> Decimal | None:
    """With the KPI's decimals (``kpi_format``), rounded once, as the totals show it (K11: an
    average is exact until here)."""
    return rounded(value, kpi.decimals)


def _add_the_rest(table: dict, holder: Holder, kpis: list[Kpi], window: Window) -> None:
    """The tallies of people in no department: the company's sums and counts less the
    departments', and their own lowest and highest values (they cannot be subtracted)."""
    company = figures.tallies_of(dashboards.kpi_day_totals(holder, kpis, window.start, window.end))
    extremes = [kpi for kpi in kpis if kpi.aggregation in (Aggregation.MIN, Aggregation.MAX)]
    lone = {}
    if extremes:
        lone = figures.tallies_of(
            figures.person_rows(extremes, window.start, window.end).filter(member__department_id__isnull=True)
        )
    rest: dict[int, figures.Tally] = {}
    for (kpi_id,), tally in company.items():
        departments = [
            tallies[kpi_id] for key, tallies in table.items() if key is not None and kpi_id in tallies
        ]
        taken = figures.merged(departments)
        alone = lone.get((kpi_id,), figures.Tally())
        left = figures.Tally(
            value=tally.value - taken.value,
            points=tally.points - taken.points,
            actions=tally.actions - taken.actions,
            low=alone.low,
            high=alone.high,
            latest=table.get(None, {}).get(kpi_id, figures.Tally()).latest,
            latest_sum=table.get(None, {}).get(kpi_id, figures.Tally()).latest_sum,
        )
        if left.value or left.points or left.actions or left.latest or left.latest_sum is not None:
            rest[kpi_id] = left
    for kpi_id, tally in table.get(None, {}).items():
        rest.setdefault(kpi_id, tally)  # a latest value of someone with no recorded sums left
    if rest:
        table[None] = rest
    else:
        table.pop(None, None)


# --- Who needs help: the people furthest behind their pace ---------------------------------------------

NEEDS_ATTENTION = 5


@dataclass
class Behind:
    """A person's primary KPI furthest behind its pace (K9): the figure so far against the share
    of the target expected by today."""

    member: Member
    figure: KpiFigure  # the unit's figure of the KPI (its name, unit and direction)
    total: Decimal  # the person's figure
    expected: Decimal  # the person's share of the target by today
    pace: Decimal  # percent, turned around for lower-is-better (K9)
    light: str


def _person_targets(holder: Holder, kpis: list[Kpi], window: Window) -> dict:
    """The targets that may give the holder's people a share, by (scope, holder id, KPI id): each
    person's own, their team's and the dashboard's unit's (2 queries: targets and their parts)."""
    earliest = window.start - datetime.timedelta(days=366)  # a yearly target from a year before
    people = Member.objects.filter(holder.scope.members_condition(prefix="")).values("user_id")
    teams = Q(scope=TargetScope.TEAM) & (
        Q(team_id=holder.id) if holder.kind == TargetScope.TEAM else Q(team__department_id=holder.id)
    )
    condition = Q(scope=TargetScope.USER, member_id__in=people) | teams
    if holder.kind == TargetScope.DEPARTMENT:
        condition |= Q(scope=TargetScope.DEPARTMENT, department_id=holder.id)
    targets = Target.objects.filter(
        condition, kpi_id__in=[kpi.id for kpi in kpis], start__gte=earliest, start__lte=window.end
    ).prefetch_related("parts")
    found: dict[tuple, list[Target]] = defaultdict(list)
    for target in targets:
        owner = {TargetScope.USER: target.member_id, TargetScope.TEAM: target.team_id}
        found[(target.scope, owner.get(target.scope, target.department_id), target.kpi_id)].append(target)
    return found


def needs_attention(
    holder: Holder, primary: list[KpiFigure], window: Window, *, limit: int = NEEDS_ATTENTION
) -> list[Behind]:
    """The team's or department's people furthest behind their pace on the primary KPIs (D3,
    issue 18), worst first: per person the primary KPI with the lowest pace, listed when that pace
    is below its green band (K11); at most ``limit`` people.

    Only the KPIs that reach the person (K6, K8) pace them. A person's target of a KPI is their
    own; else their team's, or else the department's (on a department's dashboard), shared evenly
    among the unit's active people the KPI reaches when it is a quantity (a sum or a count, K11)
    and the same for each of them when it is a level. A person with none, a KPI with no value yet
    (an average with no actions) or nothing expected yet (a period that has not begun) is not
    paced. Equally far behind, the one further behind on average across their KPIs comes first.
    From the dashboard's aggregates: 6 queries (targets and their parts, people, totals, the
    KPIs' hides and audiences), 7 with a latest value, whatever the number of people; 2 when no
    primary KPI has a target here (the totals of KPIs without one are not read)."""
    elapsed = window.elapsed_end
    if holder.kind not in (TargetScope.TEAM, TargetScope.DEPARTMENT) or not primary or not elapsed:
        return []
    targets = _person_targets(holder, [figure.kpi for figure in primary], window)
    # Only a KPI with a target for someone here paces anyone: the others' tallies are not read.
    targeted = {kpi_id for _scope, _owner, kpi_id in targets}
    primary = [figure for figure in primary if figure.kpi.id in targeted]
    if not primary:
        return []
    kpis = [figure.kpi for figure in primary]
    tallied = figures.with_sources(kpis)
    recorded = [kpi for kpi in tallied.values() if not kpi.is_calculated]
    people = list(
        Member.objects.filter(holder.scope.members_condition(prefix=""), user__is_active=True).select_related(
            "user"
        )
    )
    keyed = figures.tallies_of(
        dashboards.daily_totals(holder, recorded, window.start, window.end), ["member_id"]
    )
    dashboards.add_holder_latest(keyed, holder, recorded, window.start, window.end, ["member_id"])
    table: dict[int, dict[int, figures.Tally]] = defaultdict(dict)
    for (member_id, kpi_id), tally in keyed.items():
        table[member_id][kpi_id] = tally
    reach = kpis_reaching(kpis, people)
    headcount = defaultdict(int)  # the people a unit's target of a KPI is shared among
    for person in people:
        for kpi_id in reach[person.user_id]:
            headcount[(TargetScope.TEAM, person.team_id, kpi_id)] += 1
            headcount[(TargetScope.DEPARTMENT, person.department_id, kpi_id)] += 1
    found = []
    for person in people:
        paces = []
        for shown in primary:
            if shown.kpi.id not in reach[person.user_id]:
                continue
            expected = _expected_share(person, shown.kpi, targets, headcount, window, elapsed)
            if expected is None:
                continue
            total = figures.figure_of(shown.kpi, table.get(person.user_id, {}), tallied)
            if total is None:
                continue
            pace = dashboards.progress_of(total, expected, lower_is_better=shown.lower_is_better)
            if pace is not None:
                light = dashboards.light_of(pace, shown.kpi)
                paces.append(
                    Behind(person, shown, total.quantize(CENT, rounding=ROUND_HALF_UP), expected, pace, light)
                )
        worst = min(paces, key=lambda behind: behind.pace, default=None)
        if worst is not None and worst.light != dashboards.GREEN:
            # Equally far behind on one KPI: the one behind on more of the others first.
            mean = sum((behind.pace for behind in paces), Decimal(0)) / len(paces)
            found.append((worst.pace, mean, str(person.user).casefold(), person.user_id, worst))
    found.sort(key=lambda entry: entry[:4])
    return [entry[-1] for entry in found[:limit]]


def _expected_share(
    person: Member, kpi: Kpi, targets: dict, headcount: dict, window: Window, elapsed: datetime.date
) -> Decimal | None:
    """The person's part of the target expected by today (``needs_attention``), or None."""
    holders = [
        (TargetScope.USER, person.user_id),
        (TargetScope.TEAM, person.team_id),
        (TargetScope.DEPARTMENT, person.department_id),
    ]
    for scope, owner in holders:
        target = dashboards.covering_target(targets.get((scope, owner, kpi.id), []), window)
        if target is None:
            continue
        if kpi.is_level:
            return dashboards.level_target(target, window.start, window.end)
        share = dashboards.target_share(target, window.start, elapsed)
        people = 1 if scope == TargetScope.USER else headcount[(scope, owner, kpi.id)]
        expected = (share / people).quantize(CENT, rounding=ROUND_HALF_UP) if people else Decimal(0)
        return expected or None
    return None


# --- Leaderboards and a person's history --------------------------------------------------------------


def holder_leaderboard(holder: Holder, window: Window, *, viewer: Member, limit: int = 10) -> Leaderboard:
    """The leaderboard of the holder's unit (R7) for the window, with the viewer's own place."""
    page = {"scope": holder.scope, "limit": limit, "viewer": viewer}
    if window.kind == CUSTOM:
        return leaderboard_range(start=window.start, end=window.end, **page)
    return leaderboard(period=window.kind, day=window.start, **page)


def rating_history(member: Member, window: Window, *, periods: int = 12) -> dict:
    """A person's rating points month by month, the last ``periods`` months up to the window's
    (D2): one query on ``RatingTotal``."""
    months = [
        window_of("month", window.end, window.today).shifted(back) for back in range(periods - 1, -1, -1)
    ]
    points = dict(
        RatingTotal.objects.filter(
            member_id=member.user_id, period="month", start__gte=months[0].start, start__lte=months[-1].start
        ).values_list("start", "points")
    )
    values = [_number(points.get(month.start, Decimal(0))) for month in months]
    return {
        "labels": [month.short_label for month in months],
        "points": values,
        "decimals": 2,
        "empty": _no_data(values),
    }


RECENT_ACTIONS = 20


def recent_actions(member: Member) -> list[KpiAction]:
    """A person's latest actions, voided ones included (marked on the page): one query."""
    return list(
        KpiAction.objects.filter(member_id=member.user_id)
        .select_related("kpi__unit")
        .order_by("-occurred_at", "-id")[:RECENT_ACTIONS]
    )
