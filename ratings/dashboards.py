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
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Q, QuerySet, Sum

from kpi_platform import periods as calendar
from kpis.models import Direction, Kpi, KpiKind, KpiStatus, Level, Target, TargetPeriod, TargetScope
from kpis.selectors import department_kpis_condition, kpi_list, member_kpis_condition, team_kpis_condition
from orgs.i18n import localized
from orgs.models import Department, Member, Team
from ratings.models import CompanyDailyTotal, DailyTotal, DepartmentDailyTotal
from ratings.selectors import Scope
from ratings.windows import Window

CENT = Decimal("0.01")
# Traffic lights by pace (actual against the target pro-rated to today): on track, close, behind.
GREEN, AMBER, RED, NONE = "green", "amber", "red", "none"
AMBER_FROM = Decimal("0.8")
_TARGET_LENGTH = {TargetPeriod.MONTH: 0, TargetPeriod.QUARTER: 1, TargetPeriod.YEAR: 2}


# --- Holders -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Holder:
    """The company, a department, a team or a person: whose figures a page shows."""

    kind: str  # TargetScope: company, department, team, user
    id: int | None = None
    name: str = ""
    department_id: int | None = None  # a team's department

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


def company_holder(name: str) -> Holder:
    return Holder(TargetScope.COMPANY, None, name)


def department_holder(department: Department) -> Holder:
    return Holder(TargetScope.DEPARTMENT, department.id, department.name)


def team_holder(team: Team) -> Holder:
    return Holder(TargetScope.TEAM, team.id, team.name, team.department_id)


def person_holder(member: Member) -> Holder:
    return Holder(TargetScope.USER, member.user_id, str(member.user))


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
    total: Decimal
    points: Decimal
    target: Decimal | None  # the target for the window (pro-rated from the target's period)
    expected: Decimal | None  # the target pro-rated to today: where the holder should be by now
    progress: Decimal | None  # percent of the target, inverted for lower-is-better (K9)
    pace: Decimal | None  # percent of the expected-to-date, the same way
    light: str
    # Counted in whole numbers (its target as set and its total): the pages round the pro-rated
    # target and expected-to-date for display (``kpi_format.rounded``).
    whole: bool = False

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
    month's, pro-rated)."""
    covering = [t for t in targets if t.start <= window.start and target_end(t) >= window.end]
    return min(covering, key=lambda t: _TARGET_LENGTH[t.period], default=None)


def _percent(part: Decimal, whole: Decimal) -> Decimal | None:
    if not whole:
        return None
    return (part * 100 / whole).quantize(Decimal("1"), rounding=ROUND_HALF_UP)


def progress_of(total: Decimal, target: Decimal | None, *, lower_is_better: bool) -> Decimal | None:
    """Actual / target, or target / actual when lower is better (K9); None without a target."""
    if target is None:
        return None
    if lower_is_better:
        return Decimal(100) if not total else _percent(target, total)
    return _percent(total, target)


def light_of(pace: Decimal | None) -> str:
    if pace is None:
        return NONE
    if pace >= 100:
        return GREEN
    return AMBER if pace >= AMBER_FROM * 100 else RED


def holder_targets(holder: Holder, kpis: list[Kpi], *, since: datetime.date, until: datetime.date) -> dict:
    """The holder's targets of ``kpis`` whose periods can cover days from ``since`` to ``until``,
    by KPI id (2 queries: the targets and their parts)."""
    earliest = since - datetime.timedelta(days=366)  # a yearly target that started a year before
    targets = (
        Target.objects.filter(holder.targets_condition(), kpi_id__in=[kpi.id for kpi in kpis])
        .filter(start__gte=earliest, start__lte=until)
        .prefetch_related("parts")
    )
    by_kpi: dict[int, list[Target]] = defaultdict(list)
    for target in targets:
        by_kpi[target.kpi_id].append(target)
    return by_kpi


def kpi_figures(holder: Holder, kpis: list[Kpi], window: Window, languages: list[str]) -> list[KpiFigure]:
    """Per KPI: the holder's total in the window, its target and where it should be by today
    (3 queries)."""
    if not kpis:
        return []
    sums = {
        row["kpi_id"]: row
        for row in kpi_day_totals(holder, kpis, window.start, window.end)
        .values("kpi_id")
        .annotate(value=Sum("value"), points=Sum("points"))
    }
    targets = holder_targets(holder, kpis, since=window.start, until=window.end)
    figures = []
    for kpi in kpis:
        row = sums.get(kpi.id, {})
        # Both databases give the same two decimals (SQLite's sums drop trailing zeros).
        total = (row.get("value") or Decimal(0)).quantize(CENT)
        points = (row.get("points") or Decimal(0)).quantize(CENT)
        lower = kpi.direction == Direction.LOWER_IS_BETTER
        target = covering_target(targets.get(kpi.id, []), window)
        target_value = expected = None
        if target is not None:
            target_value = target_share(target, window.start, window.end)
            elapsed = window.elapsed_end
            expected = target_share(target, window.start, elapsed) if elapsed else Decimal(0)
        pace = progress_of(total, expected, lower_is_better=lower) if expected else None
        figures.append(
            KpiFigure(
                kpi=kpi,
                name=localized(kpi, "name", languages),
                unit=localized(kpi.unit, "name", languages),
                total=total,
                points=points,
                target=target_value,
                expected=expected,
                progress=progress_of(total, target_value, lower_is_better=lower),
                pace=pace,
                light=light_of(pace),
                whole=target is not None and target.in_whole_numbers and total == total.to_integral_value(),
            )
        )
    figures.sort(key=lambda figure: (figure.name.casefold(), figure.kpi.id))
    return figures


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


def split_by_kind(figures: list[KpiFigure]) -> tuple[list[KpiFigure], list[KpiFigure]]:
    """Primary apart from secondary (K6)."""
    primary = [figure for figure in figures if figure.kpi.kind == KpiKind.PRIMARY]
    return primary, [figure for figure in figures if figure.kpi.kind != KpiKind.PRIMARY]
