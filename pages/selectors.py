"""What a page shows, assembled for its template (API.md "Pages"): the period picker, the unit
and scope switchers, a KPI's charts, the breakdown by person or sub-unit, a unit's leaderboard, a
person's rating over time and latest actions. Only the pages read these; the figures they start
from (``ratings.dashboards``) also make the KPI report.

Every function runs a fixed number of queries whatever the number of people, KPIs or actions.
"""

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlencode

from django.utils.formats import date_format
from django.utils.translation import gettext as _

from kpis.models import Aggregation, Direction, Kpi, KpiStatus, TargetScope
from kpis.numbers import rounded
from orgs import access
from orgs.i18n import localized
from orgs.models import Department, Member, Team, TrackingFrequency
from ratings import dashboards, figures
from ratings.dashboards import CENT, Holder, KpiFigure
from ratings.models import DepartmentDailyTotal, KpiAction, RatingPeriod, RatingTotal
from ratings.selectors import Leaderboard, Scope, leaderboard, leaderboard_range
from ratings.windows import CUSTOM, Window, window_of

TREND_PERIODS = 6


def frequency_window(frequency: str, today: datetime.date) -> Window:
    """The current period of a tracking frequency (O1): today, this week, month or quarter."""
    if frequency == TrackingFrequency.DAILY:
        return Window(CUSTOM, today, today, today)
    kind = {TrackingFrequency.WEEKLY: "week", TrackingFrequency.QUARTERLY: "quarter"}.get(frequency, "month")
    return window_of(kind, today, today)


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


def kpi_sections(holder: Holder, figures: list[KpiFigure], window: Window, *, wanted: str) -> dict:
    """What ``_kpi_sections.html`` draws on a dashboard and a profile: primary KPIs apart from
    secondary ones (K6), and the chosen KPI's charts (3 queries when there is one)."""
    primary, secondary = dashboards.split_by_kind(figures)
    chosen = chosen_figure(figures, wanted)
    return {
        "holder": holder,
        "window": window,
        "primary": primary,
        "secondary": secondary,
        "chosen": chosen,
        "chart": kpi_chart(holder, chosen.kpi, window) if chosen else None,
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


def logger_kpis(people: list[Member], languages: list[str]) -> list[tuple[int, str, str]]:
    """The company's Active KPIs by name, (id, name, unit), none when there is nobody to record
    for; the service refuses a row whose KPI does not reach its person (K8)."""
    kpis = Kpi.objects.filter(status=KpiStatus.ACTIVE, archived_at__isnull=True).select_related("unit")
    choices = [
        (kpi.id, localized(kpi, "name", languages), localized(kpi.unit, "name", languages)) for kpi in kpis
    ]
    return sorted(choices, key=lambda choice: choice[1].casefold()) if people else []


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
        return _number(figures.figure_of(kpi, _merged_by_kpi(span), tallied))

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


def _merged_by_kpi(tallies: list[dict[int, figures.Tally]]) -> dict[int, figures.Tally]:
    result: dict[int, figures.Tally] = {}
    for by_kpi in tallies:
        for kpi_id, tally in by_kpi.items():
            result[kpi_id] = result[kpi_id].merge(tally) if kpi_id in result else tally
    return result


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
    by_departments = by == BY_ORG_UNITS and holder.kind == TargetScope.COMPANY
    if by_departments:  # the departments' own totals, not every person's rows
        group = "department_id"
        rows = DepartmentDailyTotal.objects.filter(
            kpi_id__in=[kpi.id for kpi in recorded], day__range=(window.start, window.end)
        )
    else:
        group = "member_id" if by == BY_MEMBERS else f"member__{holder.sub_org_unit_field}"
        rows = dashboards.daily_totals(holder, recorded, window.start, window.end)
    keyed = figures.tallies_of(rows, [group])
    latest_group = ["member__department_id" if by_departments else group]
    dashboards.add_holder_latest(keyed, holder, recorded, window.start, window.end, latest_group)
    table: dict[int | None, dict[int, figures.Tally]] = defaultdict(dict)
    for (key, kpi_id), tally in keyed.items():
        table[key][kpi_id] = tally
    if by_departments:  # people in no department: the company's tallies less the departments'
        _add_the_rest(table, holder, recorded, window)
    if by == BY_MEMBERS and holder.kind != TargetScope.USER:
        # Everyone in the unit, those with nothing recorded too: they are who most needs a look.
        people = Member.objects.filter(holder.scope.members_condition(prefix=""), user__is_active=True)
        for member_id in people.values_list("user_id", flat=True):
            table.setdefault(member_id, {})
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
        )
        for key in keys
        if by != BY_MEMBERS or key in names
    ]
    return result


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
