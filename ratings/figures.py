"""What a KPI's values add up to for a scope and a period (K11): a sum, a count, an average, the
lowest or highest value, the sum of people's latest values, or a formula over other KPIs.

Figures are read from the day aggregates, never from the actions. A ``Tally`` is what K11 needs of
some day rows: their sum, count, lowest and highest value, and for a ``last`` KPI each person's
latest value. Tallies merge (the days of a week, the people of a team), so one query at the finest
grain a page needs (per KPI, per KPI and day, per KPI and person) serves every coarser figure, and
an average stays exact at every level: a team's is the mean of its people's actions, not the mean
of their averages. A calculated KPI is never tallied: its formula is evaluated on the other KPIs'
figures of the same scope and period (``figure_of``).
"""

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import F, Max, Min, QuerySet, Sum

from kpi_platform import periods as calendar
from kpis.formulas import parse_formula
from kpis.models import Aggregation, Kpi
from kpis.selectors import kpi_list
from orgs.models import Member
from ratings.models import LATEST_PERIODS, DailyTotal, PeriodLatest

_ZERO = Decimal(0)
LATEST_WORK_MEM = "64MB"
# A figure is exact here (Decimal's 28 digits): it is rounded once, where it is shown, so an
# average is compared with its target unrounded and a formula never rounds a rounded figure.

# A person's latest value in a period (K11 ``last``): (occurred_at, action id, value), latest by
# the first two. Not by day: a day is the local date under the time zone the company had then.
Latest = tuple[datetime.datetime, int, Decimal]


@dataclass
class Tally:
    """The day rows of one KPI for one scope and period, as K11 combines them."""

    value: Decimal = _ZERO
    points: Decimal = _ZERO
    actions: int = 0
    low: Decimal | None = None
    high: Decimal | None = None
    latest: dict[int, Latest] = field(default_factory=dict)  # by person, for a ``last`` KPI
    # The latest values' sum where it is known without them: summed by the database for a group
    # of people (``add_latest``) or kept by ``RunningTally``; None: summed from ``latest``.
    latest_sum: Decimal | None = None

    def merge(self, other: "Tally") -> "Tally":
        """This tally and ``other`` as one (days or people put together)."""
        latest = dict(self.latest)
        for member_id, entry in other.latest.items():
            if member_id not in latest or entry[:2] > latest[member_id][:2]:
                latest[member_id] = entry
        sums = [tally.latest_sum for tally in (self, other) if tally.latest_sum is not None]
        return Tally(
            value=self.value + other.value,
            points=self.points + other.points,
            actions=self.actions + other.actions,
            low=_lowest(self.low, other.low),
            high=_highest(self.high, other.high),
            latest=latest,
            # Sums of the database's are of groups of different people (departments): they add.
            latest_sum=sum(sums, _ZERO) if sums and not latest else None,
        )

    def figure(self, aggregation: str) -> Decimal | None:
        """The figure by the KPI's aggregation; None where there is nothing to show (no actions for
        an average, a minimum, a maximum or a latest value)."""
        if aggregation == Aggregation.SUM:
            return self.value
        if aggregation == Aggregation.COUNT:
            return Decimal(self.actions)
        if aggregation == Aggregation.AVERAGE:
            return self.value / self.actions if self.actions else None
        if aggregation == Aggregation.MIN:
            return self.low
        if aggregation == Aggregation.MAX:
            return self.high
        if aggregation == Aggregation.LAST:
            if self.latest_sum is not None:
                return self.latest_sum
            if not self.latest:
                return None
            return sum((entry[2] for entry in self.latest.values()), _ZERO)
        raise ValueError(f"unknown aggregation {aggregation!r}")


_EMPTY = Tally()  # read only


def _lowest(first: Decimal | None, second: Decimal | None) -> Decimal | None:
    return second if first is None else first if second is None else min(first, second)


def _highest(first: Decimal | None, second: Decimal | None) -> Decimal | None:
    return second if first is None else first if second is None else max(first, second)


class RunningTally:
    """One scope's tallies by KPI, a day at a time (a chart's figure so far on each day): each day
    is added once, in place, and a ``last`` KPI keeps its sum of latest values as people's values
    are replaced, so a year of days costs a year of additions, not a year of merges of every day
    before (and of every person's latest value) on each day."""

    def __init__(self) -> None:
        self.tallies: dict[int, Tally] = {}

    def add(self, day: Mapping[int, Tally]) -> None:
        for kpi_id, tally in day.items():
            mine = self.tallies.get(kpi_id)
            if mine is None:
                mine = self.tallies[kpi_id] = Tally(latest={})
            mine.value += tally.value
            mine.points += tally.points
            mine.actions += tally.actions
            mine.low = _lowest(mine.low, tally.low)
            mine.high = _highest(mine.high, tally.high)
            for member_id, entry in tally.latest.items():
                known = mine.latest.get(member_id)
                if known is None or entry[:2] > known[:2]:
                    mine.latest[member_id] = entry
                    mine.latest_sum = (mine.latest_sum or _ZERO) + entry[2] - (known[2] if known else _ZERO)


def merged_by_key(*tallies: Mapping) -> dict:
    """Tallies keyed alike (by KPI, by unit and KPI), of other days or people, merged key by key."""
    result: dict = {}
    for keyed in tallies:
        for key, tally in keyed.items():
            result[key] = result[key].merge(tally) if key in result else tally
    return result


def merged(tallies: Iterable[Tally]) -> Tally:
    total = Tally()
    for tally in tallies:
        total = total.merge(tally)
    return total


# --- Calculated KPIs -----------------------------------------------------------------------------------


def with_sources(kpis: list[Kpi]) -> dict[int, Kpi]:
    """``kpis`` and every KPI their formulas name, directly or through other calculated KPIs, by
    id: what must be tallied to show them (no query when none is calculated; else one, of the
    company's KPIs, some dozens)."""
    found = {kpi.id: kpi for kpi in kpis}
    wanted = _names_used(kpis)
    if not wanted:
        return found
    by_name = {kpi.integration_name.lower(): kpi for kpi in kpi_list()}
    seen: set[str] = set()
    while wanted - seen:
        seen |= wanted
        more = [by_name[name] for name in wanted if name in by_name]
        found.update((kpi.id, kpi) for kpi in more if kpi.id not in found)
        wanted = _names_used(more)
    return found


def _names_used(kpis: Iterable[Kpi]) -> set[str]:
    used: set[str] = set()
    for kpi in kpis:
        if kpi.is_calculated:
            used |= {name.lower() for name in parse_formula(kpi.formula).names}
    return used


def figure_of(kpi: Kpi, tallies: Mapping[int, Tally], kpis: Mapping[int, Kpi]) -> Decimal | None:
    """The KPI's figure from the tallies (by KPI id) of one scope and period (K11). A calculated
    KPI's formula is evaluated on the figures of the KPIs it names, of the same scope and period;
    a name that is missing or archived, a figure that is missing or a division by zero gives None."""
    if not kpi.is_calculated:  # most figures: no names to look up (a page asks for thousands)
        return tallies.get(kpi.id, _EMPTY).figure(kpi.aggregation)
    by_name = {other.integration_name.lower(): other for other in kpis.values()}
    return _figure(kpi, tallies, by_name, frozenset())


def _figure(
    kpi: Kpi, tallies: Mapping[int, Tally], by_name: dict[str, Kpi], seen: frozenset
) -> Decimal | None:
    if not kpi.is_calculated:
        return tallies.get(kpi.id, Tally()).figure(kpi.aggregation)
    if kpi.id in seen:  # a cycle: refused when a formula is saved (kpis.services), never evaluated
        return None
    formula = parse_formula(kpi.formula)
    figures = {}
    for name in formula.names:
        source = by_name.get(name.lower())
        usable = source is not None and source.archived_at is None
        figures[name] = _figure(source, tallies, by_name, seen | {kpi.id}) if usable else None
    return formula.evaluate(figures)


# --- Reading the aggregates ---------------------------------------------------------------------------


def tallies_of(rows: QuerySet, group: Iterable[str] = ()) -> dict[tuple, Tally]:
    """Tallies of day rows (``DailyTotal``, ``DepartmentDailyTotal`` or ``CompanyDailyTotal``),
    keyed by ``(*group, kpi_id)``: sums, counts, lows and highs (one query)."""
    group = list(group)
    result = {}
    sums = (
        rows.values(*group, "kpi_id")
        .annotate(
            value=Sum("value"), points=Sum("points"), actions=Sum("actions"), low=Min("low"), high=Max("high")
        )
        .order_by()
        .values_list(*group, "kpi_id", "value", "points", "actions", "low", "high")
    )
    for row in sums:
        *key, value, points, actions, low, high = row
        result[tuple(key)] = Tally(
            value=value or _ZERO, points=points or _ZERO, actions=actions or 0, low=low, high=high
        )
    return result


def add_latest(tallies: dict[tuple, Tally], person_rows: QuerySet, group: Iterable[str] = ()) -> None:
    """Each person's latest value (K11 ``last``) from their rows, into the tallies keyed by
    ``(*group, kpi_id)``: rows of whole periods (``PeriodLatest``, ``latest_rows``), one per
    person, or else their day rows (``DailyTotal``), of which on PostgreSQL the database keeps only
    the latest of each person and KPI (``DISTINCT ON``) and elsewhere they are picked here."""
    group = list(group)
    if person_rows.model is PeriodLatest:
        _add_period_latest(tallies, person_rows, group)
        return
    # Columns that are not the person's (an earlier window's index, ``span``): a latest value each.
    apart = [column for column in group if column != "member_id" and not column.startswith("member__")]
    rows = person_rows.filter(actions__gt=0).order_by(
        *apart, "member_id", "kpi_id", "-last_at", "-last_action_id"
    )
    if connection.vendor == "postgresql" and "day" not in group:
        _add_latest_sums(tallies, rows.distinct(*apart, "member_id", "kpi_id"), group, apart)
        return
    columns = ("member_id", "kpi_id", "last_at", "last_action_id", "last_value")
    for row in rows.values_list(*group, *columns):
        *key, member_id, kpi_id, at, action_id, value = row
        tally = tallies.setdefault((*key, kpi_id), Tally())
        entry = (at, action_id, value)
        if member_id not in tally.latest or entry[:2] > tally.latest[member_id][:2]:
            tally.latest[member_id] = entry


def _add_latest_sums(
    tallies: dict[tuple, Tally], latest_rows: QuerySet, group: list[str], apart: list[str]
) -> None:
    """PostgreSQL: the sums of people's latest values per ``(*group, kpi_id)``, added up by the
    database over its ``DISTINCT ON`` rows (a company's 100,000 people are one row per KPI here,
    not 100,000 rows read into Python). The group must be a property of the person (their id,
    department or team), so that each person's latest value counts once, in one group, or one of
    the columns ``apart`` (an earlier window's index), of which each has its own latest values."""
    sql, params = latest_rows.values(*apart, "member_id", "kpi_id", "last_value").query.sql_with_params()
    # A unit of the person's (``member__department_id``) is read after DISTINCT ON has kept one row
    # per person, so the join reads people once, not once per day row.
    quote = connection.ops.quote_name
    keys = [
        f"person.{quote(column.removeprefix('member__'))}"
        if column.startswith("member__")
        else f"latest.{quote(column)}"
        for column in group
    ]
    joined = any(column.startswith("member__") for column in group)
    join = (
        f" JOIN {quote(Member._meta.db_table)} person ON person.user_id = latest.member_id" if joined else ""
    )
    selected = ", ".join([*keys, "latest.kpi_id"])
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        # DISTINCT ON sorts the window's rows by person (a year of a level KPI: some 170,000):
        # in memory, not in temporary files.
        cursor.execute("SELECT set_config('work_mem', %s, true)", [LATEST_WORK_MEM])
        cursor.execute(
            f"SELECT {selected}, SUM(latest.last_value) FROM ({sql}) latest{join} GROUP BY {selected}",  # noqa: S608 - constant table and column names; values are parameters
            params,
        )
        for *key, total in cursor.fetchall():
            tallies.setdefault(tuple(key), Tally()).latest_sum = total


def _add_period_latest(tallies: dict[tuple, Tally], rows: QuerySet, group: list[str]) -> None:
    """``add_latest`` of whole periods' rows: each is a person's latest value in its period, so
    on PostgreSQL the database sums them per group (the join to a person's unit, if grouped so,
    reads people once per row); elsewhere each person's is kept, as from day rows."""
    if connection.vendor == "postgresql":
        sums = (
            rows.values(*group, "kpi_id")
            .annotate(total=Sum("last_value"))
            .order_by()
            .values_list(*group, "kpi_id", "total")
        )
        for *key, total in sums:
            tallies.setdefault(tuple(key), Tally()).latest_sum = total
        return
    columns = ("member_id", "kpi_id", "last_at", "last_action_id", "last_value")
    for row in rows.values_list(*group, *columns):
        *key, member_id, kpi_id, at, action_id, value = row
        tallies.setdefault((*key, kpi_id), Tally()).latest[member_id] = (at, action_id, value)


def whole_period(start: datetime.date, end: datetime.date) -> str | None:
    """The week, month, quarter or year that is exactly the days ``start`` to ``end``, or None."""
    for period in LATEST_PERIODS:
        if calendar.period_start(period, start) == start and calendar.period_end(period, start) == end:
            return period
    return None


def latest_rows(kpis: Iterable[Kpi], start: datetime.date, end: datetime.date) -> QuerySet:
    """The rows people's latest values of level ``kpis`` from ``start`` to ``end`` are read from
    (``add_latest``): a whole period's kept ones (``PeriodLatest``: one row per person), else
    the days'."""
    period = whole_period(start, end)
    if period is None:
        return person_rows(kpis, start, end)
    return PeriodLatest.objects.filter(kpi_id__in=[kpi.id for kpi in kpis], period=period, start=start)


def latest_rows_in(kpis: Iterable[Kpi], spans: list[tuple[datetime.date, datetime.date]]) -> QuerySet | None:
    """``latest_rows`` of several spans at once, each row annotated with its span's first day
    (``span``), when the spans are whole periods of one kind (a window's earlier ones); else None
    (the caller reads days)."""
    periods = {whole_period(start, end) for start, end in spans}
    if len(periods) != 1 or None in periods:
        return None
    return PeriodLatest.objects.filter(
        kpi_id__in=[kpi.id for kpi in kpis], period=periods.pop(), start__in=[start for start, _end in spans]
    ).annotate(span=F("start"))


def add_latest_part(tally: Tally, part: Tally) -> None:
    """The latest values of ``part`` (another group of people: a sub-unit) into ``tally``."""
    tally.latest.update(part.latest)
    if part.latest_sum is not None:
        tally.latest_sum = (tally.latest_sum or _ZERO) + part.latest_sum


def person_rows(kpis: Iterable[Kpi], start: datetime.date, end: datetime.date) -> QuerySet:
    return DailyTotal.objects.filter(kpi_id__in=[kpi.id for kpi in kpis], day__range=(start, end))


def latest_kpis(kpis: Iterable[Kpi]) -> list[Kpi]:
    return [kpi for kpi in kpis if not kpi.is_calculated and kpi.aggregation == Aggregation.LAST]
