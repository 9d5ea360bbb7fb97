"""Figures of a holder for a window (PRODUCT D1–D5): per KPI its total against its target, with
pacing, for the pages and the KPI report. What only a page shows (charts, breakdowns, pickers) is
assembled in ``pages.selectors``; windows are parsed in ``ratings.windows``; who may open which
dashboard is ``orgs.access`` (O4).

Every figure comes from the aggregates (``DailyTotal``, ``RatingTotal`` through
``ratings.selectors``), never from the actions, and every function runs a fixed number of queries
whatever the number of people, KPIs or actions. A "holder" is what figures are for: the company, a
department, a team or one person, the same holders targets have (K9).
"""

import datetime
import operator
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import reduce

from django.db.models import Case, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When

from kpi_platform import periods as calendar
from kpis.models import (
    AMBER_FROM,
    GREEN_FROM,
    Direction,
    Kpi,
    KpiKind,
    KpiStatus,
    Level,
    Target,
    TargetPeriod,
    TargetScope,
)
from kpis.selectors import department_kpis_condition, kpi_list, member_kpis_condition, team_kpis_condition
from orgs import access
from orgs.i18n import localized
from orgs.models import Company, Department, Member, Team
from ratings import figures
from ratings.models import (
    CompanyDailyTotal,
    DailyTotal,
    DepartmentDailyTotal,
    DepartmentMonthTotal,
    TeamMonthTotal,
)
from ratings.selectors import Scope
from ratings.windows import CUSTOM, Window, frequency_window

CENT = Decimal("0.01")
# Traffic lights by pace (the figure against where it should be by today): on track, close, behind.
GREEN, AMBER, RED, NONE = "green", "amber", "red", "none"
_TARGET_LENGTH = {TargetPeriod.MONTH: 0, TargetPeriod.QUARTER: 1, TargetPeriod.YEAR: 2}


# --- Holders -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Holder:
    """The company, a department, a team or a person: whose figures a page shows."""

    kind: str  # TargetScope: company, department, team, user
    id: int | None = None
    name: str = ""
    department_id: int | None = None  # a team's department
    # What one page reads twice, read once: people's latest values (K11 ``last``) per sub-unit
    # and KPI, for the totals and the breakdown (``add_holder_latest``). One page's holder only.
    memo: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    def members_condition(self) -> Q:
        """Rows of aggregates (``member`` foreign key) that belong to the holder."""
        if self.kind == TargetScope.USER:
            return Q(member_id=self.id)
        return self.scope.members_condition()

    @property
    def scope(self) -> Scope:
        if self.kind in (TargetScope.DEPARTMENT, TargetScope.TEAM):
            return Scope(self.kind, self.id)
        return Scope()

    def targets_condition(self) -> Q:
        holder = {
            TargetScope.DEPARTMENT: "department_id",
            TargetScope.TEAM: "team_id",
            TargetScope.USER: "member_id",
        }.get(self.kind)
        condition = Q(scope=self.kind)
        return condition & Q(**{holder: self.id}) if holder else condition

    @property
    def sub_org_unit_field(self) -> str | None:
        """The member field that groups this holder's people by sub-unit (None: by person only)."""
        return {TargetScope.COMPANY: "department_id", TargetScope.DEPARTMENT: "team_id"}.get(self.kind)


# A holder's memo says the page breaks it down by sub-unit (``shown_by_sub_units``).
BY_SUB_UNITS = "by sub-units"


def shown_by_sub_units(holder: Holder) -> None:
    """Say that the holder's page also shows it by sub-unit (the company's departments, a
    department's teams): its level totals (K11 ``last``) are then the sums of the sub-units'
    latest values, read once for both, not read apart first (``add_holder_latest``)."""
    holder.memo[BY_SUB_UNITS] = True


def company_holder(name: str) -> Holder:
    return Holder(TargetScope.COMPANY, None, name)


def department_holder(department: Department) -> Holder:
    return Holder(TargetScope.DEPARTMENT, department.id, department.name)


def team_holder(team: Team) -> Holder:
    return Holder(TargetScope.TEAM, team.id, team.name, team.department_id)


def person_holder(member: Member) -> Holder:
    return Holder(TargetScope.USER, member.user_id, str(member.user))


def reachable_holder(
    viewer: Member | None, kind: str, holder_id: int | None, *, company_name: str
) -> Holder | None:
    """The company, department, team or person whose figures ``viewer`` may read (O4, D3), or
    None: the dashboards a person opens (``orgs.access``) and the people they see; a token
    (``None``) reads any of the company's."""
    if kind == TargetScope.COMPANY:
        return (
            company_holder(company_name)
            if viewer is None or access.may_see_company_dashboard(viewer)
            else None
        )
    if kind == TargetScope.USER:
        person = access.visible_members(viewer).select_related("user").filter(user_id=holder_id).first()
        return person_holder(person) if person is not None else None
    if kind == TargetScope.DEPARTMENT:
        units = Department.objects.all() if viewer is None else access.dashboard_departments(viewer)
        department = units.filter(id=holder_id).first()
        return department_holder(department) if department is not None else None
    units = Team.objects.all() if viewer is None else access.dashboard_teams(viewer)
    team = units.filter(id=holder_id).first()
    return team_holder(team) if team is not None else None


# --- KPIs of a holder ---------------------------------------------------------------------------------


def holder_kpis(holder: Holder, *, member: Member | None = None) -> list[Kpi]:
    """The Active KPIs of a holder (K5, K6): the company's are all of them; a department's are its
    own and inherited ones and its teams' own; a team's its own and inherited ones; a person's those
    that reach them (K8)."""
    live = Q(status=KpiStatus.ACTIVE, archived_at__isnull=True)
    if holder.kind == TargetScope.DEPARTMENT:
        department = Department(id=holder.id)
        live &= department_kpis_condition(department) | Q(level=Level.TEAM, department_id=holder.id)
    elif holder.kind == TargetScope.TEAM:
        live &= team_kpis_condition(Team(id=holder.id, department_id=holder.department_id))
    elif holder.kind == TargetScope.USER:
        live &= member_kpis_condition(member)
    return list(kpi_list().filter(live).select_related("unit"))


# --- Figures: totals against targets, with pacing ----------------------------------------------------


@dataclass
class KpiFigure:
    kpi: Kpi
    name: str  # in the reader's language (D6)
    unit: str
    total: Decimal | None  # the figure by the KPI's aggregation (K11); None: no value ("—")
    points: Decimal
    target: Decimal | None  # the target for the window (pro-rated from the target's period)
    expected: Decimal | None  # the target pro-rated to today: where the holder should be by now
    progress: Decimal | None  # percent of the target, inverted for lower-is-better (K9)
    pace: Decimal | None  # percent of the expected-to-date, the same way
    light: str
    count: int = 0  # the actions recorded in the window (none for a calculated KPI)
    # Against earlier windows, for the dashboards (``compare_figures``); None: not compared.
    change: "Change | None" = None  # the previous window of the same kind
    year_change: "Change | None" = None  # the same window a year before (None for a year)
    history: list[Decimal | None] = field(default_factory=list)  # the last windows', oldest first
    # Not updated for a whole tracking period (O1, ``mark_stale``), and the last day it was.
    stale: bool = False
    last_action: datetime.date | None = None

    @property
    def lower_is_better(self) -> bool:
        return self.kpi.direction == Direction.LOWER_IS_BETTER


def _overlap(first: datetime.date, last: datetime.date, start: datetime.date, end: datetime.date) -> int:
    return max(0, (min(last, end) - max(first, start)).days + 1)


def target_end(target: Target) -> datetime.date:
    return calendar.period_end(target.period, target.start)


def target_share(target: Target, start: datetime.date, end: datetime.date) -> Decimal:
    """The part of ``target`` that falls on the days ``start``–``end``: its breakdown's parts (K9)
    or else its value, each spread evenly over its days. A monthly target of 300 has 100 on the
    first ten days of a thirty-day month."""
    parts = [(part.start, part.end, part.value) for part in target.parts.all()]
    if not parts:
        parts = [(target.start, target_end(target), target.value)]
    share = Decimal(0)
    for first, last, value in parts:
        days = _overlap(first, last, start, end)
        if days:
            share += value * days / ((last - first).days + 1)
    return share.quantize(CENT, rounding=ROUND_HALF_UP)


def covering_target(targets: list[Target], window: Window) -> Target | None:
    """The shortest target period that covers the whole window (a week's target comes from its
    month's, pro-rated); of two as long, the holder's own before its KPI's unit's
    (``holder_targets``)."""
    covering = [t for t in targets if t.start <= window.start and target_end(t) >= window.end]
    return min(
        covering, key=lambda t: (_TARGET_LENGTH[t.period], getattr(t, "of_kpi_unit", False)), default=None
    )


def _percent(part: Decimal, whole: Decimal) -> Decimal | None:
    """Two decimals (the API's ``"102.67"``); the pages show whole percents."""
    if not whole:
        return None
    return (part * 100 / whole).quantize(CENT, rounding=ROUND_HALF_UP)


def progress_of(total: Decimal, target: Decimal | None, *, lower_is_better: bool) -> Decimal | None:
    """Actual / target, or target / actual when lower is better (K9); None without a target."""
    if target is None:
        return None
    if lower_is_better:
        return Decimal(100) if not total else _percent(target, total)
    return _percent(total, target)


def light_of(pace: Decimal | None, kpi: Kpi | None = None) -> str:
    """The traffic light of a pace (percent of the expected-to-date, already turned around for a
    lower-is-better KPI): by the KPI's bands (K11), by default green from 100 %, amber from 80 %."""
    if pace is None:
        return NONE
    green, amber = (kpi.threshold_green, kpi.threshold_amber) if kpi is not None else (GREEN_FROM, AMBER_FROM)
    if pace >= green:
        return GREEN
    return AMBER if pace >= amber else RED


def _kpi_unit_targets_condition(holder: Holder) -> Q:
    """Above a department's or a team's KPI (K6), its unit's own targets: only that unit's people
    record it (K8), so the company's figure of a Sales KPI is the Sales department's, and its
    target too. Nothing for a team or a person."""
    department_kpis = Q(
        scope=TargetScope.DEPARTMENT, kpi__level=Level.DEPARTMENT, department_id=F("kpi__department_id")
    )
    team_kpis = Q(scope=TargetScope.TEAM, kpi__level=Level.TEAM, team_id=F("kpi__team_id"))
    if holder.kind == TargetScope.COMPANY:
        return department_kpis | team_kpis
    if holder.kind == TargetScope.DEPARTMENT:
        return team_kpis & Q(team__department_id=holder.id)
    return Q(pk__in=[])


def holder_targets(holder: Holder, kpis: list[Kpi], *, since: datetime.date, until: datetime.date) -> dict:
    """The holder's targets of ``kpis`` whose periods can cover days from ``since`` to ``until``,
    and above a department's or team's KPI its unit's (``of_kpi_unit``), by KPI id (2 queries:
    the targets and their parts)."""
    earliest = since - datetime.timedelta(days=366)  # a yearly target that started a year before
    targets = (
        Target.objects.filter(
            holder.targets_condition() | _kpi_unit_targets_condition(holder),
            kpi_id__in=[kpi.id for kpi in kpis],
        )
        .filter(start__gte=earliest, start__lte=until)
        .prefetch_related("parts")
    )
    by_kpi: dict[int, list[Target]] = defaultdict(list)
    for target in targets:
        target.of_kpi_unit = target.scope != holder.kind
        by_kpi[target.kpi_id].append(target)
    return by_kpi


def holder_tallies(holder: Holder, kpis: Iterable[Kpi], start: datetime.date, end: datetime.date) -> dict:
    """The holder's tallies (K11) of the recorded KPIs among ``kpis`` from ``start`` to ``end``,
    by KPI id: 1 query, 2 with a ``last`` KPI (each person's latest value)."""
    recorded = [kpi for kpi in kpis if not kpi.is_calculated]
    if not recorded:
        return {}
    keyed = figures.tallies_of(kpi_day_totals(holder, recorded, start, end))
    add_holder_latest(keyed, holder, recorded, start, end)
    return {key[0]: tally for key, tally in keyed.items()}


def add_holder_latest(
    tallies: dict, holder: Holder, kpis: list[Kpi], start: datetime.date, end: datetime.date, group=()
) -> None:
    """Each of the holder's people's latest value (K11 ``last``) of ``kpis`` into ``tallies``,
    keyed by ``(*group, kpi_id)`` (``figures.add_latest``); no query without a ``last`` KPI."""
    latest = figures.latest_kpis(kpis)
    if not latest:
        return
    group = list(group)
    unit = f"member__{holder.sub_org_unit_field}" if holder.sub_org_unit_field else None
    # A whole period's total is one sum of its people's kept rows: cheaper alone than through the
    # sub-units' (a join to every person), unless the page shows the sub-units too.
    whole = not group and figures.whole_period(start, end) is not None and not holder.memo.get(BY_SUB_UNITS)
    if unit is None or group not in ([], [unit]) or whole:
        figures.add_latest(tallies, _holder_people(holder, latest, start, end), group)
        return
    # The holder's total and its breakdown by sub-unit both come from the values per sub-unit,
    # read once per KPI for the page.
    by_kpi = holder.memo.setdefault(("latest", start, end), {})
    missing = [kpi for kpi in latest if kpi.id not in by_kpi]
    if missing:
        by_unit: dict = {}
        figures.add_latest(by_unit, _holder_people(holder, missing, start, end), [unit])
        for kpi in missing:
            by_kpi[kpi.id] = {}
        for (unit_id, kpi_id), part in by_unit.items():
            by_kpi[kpi_id][unit_id] = part
    for kpi in latest:
        for unit_id, part in by_kpi[kpi.id].items():
            figures.add_latest_part(
                tallies.setdefault((unit_id, kpi.id) if group else (kpi.id,), figures.Tally()), part
            )


def _holder_people(holder: Holder, kpis: list[Kpi], start: datetime.date, end: datetime.date) -> QuerySet:
    """The holder's people's rows of level ``kpis`` (``figures.latest_rows``)."""
    people = figures.latest_rows(kpis, start, end)
    if holder.kind != TargetScope.COMPANY:
        people = people.filter(holder.members_condition())
    return people


def level_target(target: Target, start: datetime.date, end: datetime.date) -> Decimal:
    """A level's target (K11: an average, a minimum or maximum, a latest value, a formula) holds
    on every day of its period: the value of the breakdown's part the window ends in, or else the
    target's own value, never pro-rated."""
    for part in target.parts.all():
        if part.start <= end <= part.end:
            return part.value
    return target.value


def kpi_figures(holder: Holder, kpis: list[Kpi], window: Window, languages: list[str]) -> list[KpiFigure]:
    """Per KPI: the holder's figure in the window (K11), its target and where it should be by
    today (3 queries; 4 with a ``last`` KPI, 5 with a calculated one)."""
    if not kpis:
        return []
    tallied = figures.with_sources(kpis)
    tallies = holder_tallies(holder, tallied.values(), window.start, window.end)
    targets = holder_targets(holder, kpis, since=window.start, until=window.end)
    result = []
    for kpi in kpis:
        tally = tallies.get(kpi.id, figures.Tally())
        exact = figures.figure_of(kpi, tallies, tallied)
        lower = kpi.direction == Direction.LOWER_IS_BETTER
        target = covering_target(targets.get(kpi.id, []), window)
        target_value = expected = None
        if target is not None and kpi.is_level:
            target_value = expected = level_target(target, window.start, window.end)
        elif target is not None:
            target_value = target_share(target, window.start, window.end)
            elapsed = window.elapsed_end
            expected = target_share(target, window.start, elapsed) if elapsed else Decimal(0)
        progress = pace = None
        if exact is not None:
            progress = progress_of(exact, target_value, lower_is_better=lower)
            pace = progress_of(exact, expected, lower_is_better=lower) if expected else None
        # Shown with two decimals at most (both databases give the same; an average of 31
        # actions is compared with its target before it is rounded).
        total = None if exact is None else exact.quantize(CENT, rounding=ROUND_HALF_UP)
        result.append(
            KpiFigure(
                kpi=kpi,
                name=localized(kpi, "name", languages),
                unit=localized(kpi.unit, "name", languages),
                total=total,
                points=tally.points.quantize(CENT),
                target=target_value,
                expected=expected,
                progress=progress,
                pace=pace,
                light=light_of(pace, kpi),
                count=0 if kpi.is_calculated else tally.actions,
            )
        )
    result.sort(key=lambda figure: (figure.name.casefold(), figure.kpi.id))
    return result


def kind_figures(
    holder: Holder, kpis: list[Kpi], windows: tuple[Window, Window], languages: list[str]
) -> list[KpiFigure]:
    """``kpi_figures`` of the primary KPIs in the first window and of the secondary ones in the
    second (O1: each kind by its tracking frequency); one pass when both are the same window."""
    primary, secondary = windows
    if primary == secondary:
        return kpi_figures(holder, kpis, primary, languages)
    result = kpi_figures(holder, [kpi for kpi in kpis if kpi.kind == KpiKind.PRIMARY], primary, languages)
    result += kpi_figures(holder, [kpi for kpi in kpis if kpi.kind != KpiKind.PRIMARY], secondary, languages)
    result.sort(key=lambda figure: (figure.name.casefold(), figure.kpi.id))
    return result


def mark_stale(holder: Holder, kpi_figures: list[KpiFigure], company: Company, today: datetime.date) -> None:
    """Mark each recorded KPI that had no action in the holder's scope during the last complete
    period of its kind's tracking frequency (O1), or longer, with the last day it had one (None:
    never): 1 query (none without a recorded KPI). A KPI created since that period began is not
    stale yet."""
    recorded = [figure for figure in kpi_figures if not figure.kpi.is_calculated]
    if not recorded:
        return
    kpis = [figure.kpi for figure in recorded]
    # Each KPI's latest day with an action, read backwards along the (kpi, day) index: a few rows
    # per KPI, not the holder's whole history.
    latest = (
        kpi_day_totals(holder, kpis, calendar.FIRST_DAY, today)
        .filter(kpi_id=OuterRef("pk"), actions__gt=0)
        .order_by("-day")
        .values("day")[:1]
    )
    last = dict(Kpi.objects.filter(id__in=[kpi.id for kpi in kpis]).values_list("id", Subquery(latest)))
    primary = frequency_window(company.primary_frequency, today).shifted(1).start
    secondary = frequency_window(company.secondary_frequency, today).shifted(1).start
    for figure in recorded:
        began = primary if figure.kpi.kind == KpiKind.PRIMARY else secondary
        figure.last_action = last.get(figure.kpi.id)
        created = figure.kpi.created_at.astimezone(company.zone).date()
        figure.stale = created < began and (figure.last_action is None or figure.last_action < began)


# --- Against earlier windows (issue 18): the change, and the last windows' figures ----------------


@dataclass(frozen=True)
class Change:
    """A figure against the same figure (K11: the KPI's aggregation, the same holder) in an earlier
    window: what it was, and the change in percent of it; no percent where either figure is
    missing or the earlier one is zero."""

    label: str  # the earlier window's
    before: Decimal | None
    percent: Decimal | None
    lower_is_better: bool

    @property
    def arrow(self) -> str:
        if self.percent is None:
            return ""
        return "↑" if self.percent > 0 else "↓" if self.percent < 0 else "→"

    @property
    def tone(self) -> str:
        """``good``, ``bad`` or ``flat`` by the KPI's direction (K9); ``none`` without a percent."""
        if self.percent is None:
            return "none"
        if not self.percent:
            return "flat"
        return "good" if (self.percent > 0) != self.lower_is_better else "bad"


def change_of(total: Decimal | None, before: Decimal | None, *, label: str, lower_is_better: bool) -> Change:
    """The change between two figures as the pages show them (to the cent), in percent of the
    earlier one."""
    percent = None
    if total is not None and before:
        percent = ((total - before) * 100 / abs(before)).quantize(CENT, rounding=ROUND_HALF_UP)
    return Change(label=label, before=before, percent=percent, lower_is_better=lower_is_better)


def year_before(window: Window) -> Window | None:
    """The same window a year before: the same week (52 weeks back, so the days of the week
    match), month or quarter of the year before, a range's dates a year back; None for a year,
    whose year before is its previous window."""
    steps = {"week": 52, "month": 12, "quarter": 4}
    if window.kind in steps:
        return window.shifted(steps[window.kind])
    if window.kind != CUSTOM:
        return None
    return Window(CUSTOM, _a_year_back(window.start), _a_year_back(window.end), window.today)


def _a_year_back(day: datetime.date) -> datetime.date:
    if day.month == 2 and day.day == 29:
        day = day - datetime.timedelta(days=1)
    return day.replace(year=day.year - 1)


def compare_figures(
    holder: Holder, kpi_figures: list[KpiFigure], window: Window, *, periods: int = 6
) -> None:
    """Each figure against the previous window of the same kind (a range: the days of equal
    length just before it) and, where it has data, the same window a year before, and the figures of the last
    ``periods`` windows (this one last), read as ``kpi_figures`` reads the window's own: one more
    pass over the same aggregates for every earlier window at once (1 query, 2 with a ``last``
    KPI, 3 with a calculated one), whatever the number of KPIs."""
    if not kpi_figures:
        return
    earlier = [window.shifted(back) for back in range(periods - 1, 0, -1)]  # the previous one last
    spans = [(each.start, each.end) for each in earlier]
    year = year_before(window)
    year_index = None
    if year is not None and (year.start, year.end) in spans:
        year_index = spans.index((year.start, year.end))
    elif year is not None and not any(year.start <= end and start <= year.end for start, end in spans):
        year_index = len(spans)  # a range's year before that overlaps these is not shown
        spans.append((year.start, year.end))
    tallied = figures.with_sources([figure.kpi for figure in kpi_figures])
    tallies = holder_tallies_in(holder, tallied.values(), spans)
    for figure in kpi_figures:
        lower = figure.lower_is_better
        values = [_cents(figures.figure_of(figure.kpi, each, tallied)) for each in tallies]
        figure.history = [*values[: len(earlier)], figure.total]
        figure.change = change_of(
            figure.total, values[len(earlier) - 1], label=earlier[-1].label, lower_is_better=lower
        )
        if year_index is not None and _has_data(figure.kpi, tallies[year_index], values[year_index]):
            figure.year_change = change_of(
                figure.total, values[year_index], label=year.label, lower_is_better=lower
            )


def _has_data(kpi: Kpi, tallies: dict, value: Decimal | None) -> bool:
    """Whether a KPI has a figure of its own in a window: actions recorded (a sum of none is 0,
    not data), or a formula's value."""
    if kpi.is_calculated:
        return value is not None
    return kpi.id in tallies and bool(tallies[kpi.id].actions or tallies[kpi.id].latest_sum is not None)


def _cents(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(CENT, rounding=ROUND_HALF_UP)


def holder_tallies_in(
    holder: Holder, kpis: Iterable[Kpi], spans: list[tuple[datetime.date, datetime.date]]
) -> list[dict]:
    """The holder's tallies (K11) of the recorded KPIs among ``kpis`` in each of ``spans`` (days
    from–to, none overlapping), by KPI id, as ``holder_tallies`` reads one window's: 1 query for
    them all, 2 with a ``last`` KPI."""
    result: list[dict] = [{} for _span in spans]
    recorded = [kpi for kpi in kpis if not kpi.is_calculated]
    if not recorded or not spans:
        return result
    which = Case(
        *(When(day__range=span, then=Value(index)) for index, span in enumerate(spans)),
        output_field=IntegerField(),
    )
    days = Q()
    for start, end in _joined(spans):
        days |= Q(day__range=(start, end))
    first, last = min(start for start, _end in spans), max(end for _start, end in spans)
    rows = kpi_day_totals(holder, recorded, first, last).filter(days).annotate(span=which)
    keyed = figures.tallies_of(rows, ["span"])
    latest = figures.latest_kpis(recorded)
    if latest:
        kept = figures.latest_rows_in(latest, spans)
        people = kept if kept is not None else figures.person_rows(latest, first, last).filter(days)
        if holder.kind != TargetScope.COMPANY:
            people = people.filter(holder.members_condition())
        if kept is None:
            figures.add_latest(keyed, people.annotate(span=which), ["span"])
        else:  # whole periods' rows, by their first day
            by_start: dict = {}
            figures.add_latest(by_start, people, ["span"])
            index_of = {start: index for index, (start, _end) in enumerate(spans)}
            for (start, kpi_id), part in by_start.items():
                figures.add_latest_part(keyed.setdefault((index_of[start], kpi_id), figures.Tally()), part)
    for (index, kpi_id), tally in keyed.items():
        result[index][kpi_id] = tally
    return result


def _joined(spans: list[tuple[datetime.date, datetime.date]]) -> list[tuple[datetime.date, datetime.date]]:
    """Spans that touch as one range (the last windows follow each other): fewer conditions."""
    joined: list[tuple[datetime.date, datetime.date]] = []
    for start, end in sorted(spans):
        if joined and start <= joined[-1][1] + datetime.timedelta(days=1):
            joined[-1] = (joined[-1][0], max(end, joined[-1][1]))
        else:
            joined.append((start, end))
    return joined


def daily_totals(holder: Holder, kpis: list[Kpi], start: datetime.date, end: datetime.date) -> QuerySet:
    return DailyTotal.objects.filter(
        holder.members_condition(), kpi_id__in=[kpi.id for kpi in kpis], day__range=(start, end)
    )


def kpi_day_totals(holder: Holder, kpis: list[Kpi], start: datetime.date, end: datetime.date) -> QuerySet:
    """Rows with ``kpi_id``, ``day``, ``value`` and ``points`` of the holder: for the company and a
    department their own totals per KPI and day (a few thousand rows a year), not every person's."""
    ids = [kpi.id for kpi in kpis]
    if holder.kind == TargetScope.COMPANY:
        return CompanyDailyTotal.objects.filter(kpi_id__in=ids, day__range=(start, end))
    if holder.kind == TargetScope.DEPARTMENT:
        return DepartmentDailyTotal.objects.filter(
            department_id=holder.id, kpi_id__in=ids, day__range=(start, end)
        )
    return daily_totals(holder, kpis, start, end)


def _whole_months(start: datetime.date, end: datetime.date) -> tuple[datetime.date, datetime.date] | None:
    """The first and last day of the calendar months wholly inside ``start`` to ``end``, or None."""
    day = datetime.timedelta(days=1)
    first = start if start.day == 1 else calendar.period_end("month", start.replace(day=1)) + day
    last = end if end == calendar.period_end("month", end.replace(day=1)) else end.replace(day=1) - day
    return (first, last) if first <= last else None


def _edge_days(
    start: datetime.date, end: datetime.date, months: tuple[datetime.date, datetime.date]
) -> Q | None:
    """The days from ``start`` to ``end`` outside the whole ``months`` (a condition on ``day``), or
    None when there are none."""
    day = datetime.timedelta(days=1)
    edges = [Q(day__range=(start, months[0] - day))] if start < months[0] else []
    if end > months[1]:
        edges.append(Q(day__range=(months[1] + day, end)))
    return reduce(operator.or_, edges) if edges else None


def department_tallies(kpis: list[Kpi], start: datetime.date, end: datetime.date) -> dict:
    """The company's departments' tallies of ``kpis`` from ``start`` to ``end`` (K11), keyed by
    ``(department_id, kpi_id)``: the whole calendar months inside from the months' rows
    (``DepartmentMonthTotal``), the days before and after them from the days': one query for a
    week, a month, a quarter or a year, two for a range with whole months and edge days."""
    ids = [kpi.id for kpi in kpis]
    months = _whole_months(start, end)
    days = DepartmentDailyTotal.objects.filter(kpi_id__in=ids, day__range=(start, end))
    if months is None:
        return figures.tallies_of(days, ["department_id"])
    whole = DepartmentMonthTotal.objects.filter(
        kpi_id__in=ids, month__range=(months[0], months[1].replace(day=1))
    )
    tallies = figures.tallies_of(whole, ["department_id"])
    edges = _edge_days(start, end, months)
    if edges is None:
        return tallies
    return figures.merged_by_key(tallies, figures.tallies_of(days.filter(edges), ["department_id"]))


def team_tallies(holder: Holder, kpis: list[Kpi], start: datetime.date, end: datetime.date) -> dict:
    """A department's teams' tallies of ``kpis`` from ``start`` to ``end`` (K11), keyed by
    ``(team_id, kpi_id)``, and those of its people in no team under ``None``: the teams' whole
    calendar months from their months' rows (``TeamMonthTotal``), the rest (the edge days, and
    every day of the people in no team) from the people's days: 2 queries, 1 without a whole
    month."""
    ids = [kpi.id for kpi in kpis]
    months = _whole_months(start, end)
    days = daily_totals(holder, kpis, start, end)
    if months is None:
        return figures.tallies_of(days, ["member__team_id"])
    teams = Team.objects.filter(department_id=holder.id).values("id")
    whole = TeamMonthTotal.objects.filter(
        team_id__in=teams, kpi_id__in=ids, month__range=(months[0], months[1].replace(day=1))
    )
    rest = Q(member__team_id__isnull=True)
    edges = _edge_days(start, end, months)
    if edges is not None:
        rest |= edges
    return figures.merged_by_key(
        figures.tallies_of(whole, ["team_id"]), figures.tallies_of(days.filter(rest), ["member__team_id"])
    )


def split_by_kind(figures: list[KpiFigure]) -> tuple[list[KpiFigure], list[KpiFigure]]:
    """Primary apart from secondary (K6)."""
    primary = [figure for figure in figures if figure.kpi.kind == KpiKind.PRIMARY]
    return primary, [figure for figure in figures if figure.kpi.kind != KpiKind.PRIMARY]
