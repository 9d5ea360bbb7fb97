"""The rating aggregates and their upkeep (R6): ``AggregateChange`` sums what a write adds to them
or takes from them, ``aggregates_apply`` adds it in one sorted upsert per table in the writer's
transaction, and ``aggregates_rebuild`` recomputes them from the actions (``rebuild_ratings``).

The aggregates are daily totals per person and KPI (and per KPI for the whole company and for each
department's people, whose days are also rolled up by month, and per team and month), rating
totals per person and period of the KPIs that count, and each board's size. Recording, voiding, a
recalculation and a KPI that starts or stops counting keep them through this module;
``department_totals_follow``, ``team_totals_follow`` and ``department_totals_delete`` keep the
departments' and teams' totals when people move or a unit goes.

Beside the sums, the days keep what K11's other aggregations need: each day's lowest and highest
value (``low``, ``high``) and, per person, the latest action's value (``last_*``). Recording merges
them in the same upsert as the sums (a min/max merge, and "later by ``(occurred_at, id)``"), so the
hot path gains no statement. A void cannot take a minimum back as it takes back a sum: it marks the
person's day (``AggregateChange.recompute``), which is recomputed from its actions after the sums,
and then the company's and the person's department's day from the people's days.
"""

import datetime
from collections import defaultdict
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Max, Min, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from kpi_platform import periods as calendar
from kpi_platform.decimals import CENT
from kpis.models import Aggregation, Kpi
from orgs.models import Member
from orgs.tenancy import current_company_id
from ratings.models import (
    CompanyDailyTotal,
    DailyTotal,
    DepartmentDailyTotal,
    DepartmentMonthTotal,
    KpiAction,
    PeriodLatest,
    RatingBoard,
    RatingTotal,
    TeamMonthTotal,
)
from ratings.periods import latest_period_starts, period_starts

_ZERO = Decimal(0)


def lock_kpis_for_share(ids: list[int]) -> None:
    """Recorders share the lock; a KPI change that moves the rating aggregates (``UPDATE``) waits
    for them and they for it (PostgreSQL; SQLite serializes writers anyway)."""
    if ids and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM kpis_kpi WHERE id = ANY(%s) ORDER BY id FOR SHARE", [sorted(ids)])


def array_literal(values: Iterable) -> str:
    """A PostgreSQL array literal of numbers, dates or times (cast by the statement): psycopg sends
    it as one string, where it adapts a list element by element, 3-5 times slower for the
    thousands of values of a batch. ``str`` writes each as PostgreSQL reads it (a time as
    ``2026-11-02 10:00:00+03:00``). Text columns, which would need quoting, stay lists."""
    return "{" + ",".join(map(str, values)) + "}"


def _nullable_array_literal(values: Iterable) -> str:
    """``array_literal`` of values some of which are ``None`` (a day without a low or a last)."""
    return "{" + ",".join("NULL" if value is None else str(value) for value in values) + "}"


def _day_entry() -> list:
    """A daily change: ``[value, points, actions, low, high, last_value, last_at, last_action_id]``;
    the sums are added to a row, the rest merged into it (``None``: nothing to merge)."""
    return [_ZERO, _ZERO, 0, None, None, None, None, None]


@dataclass
class AggregateChange:
    """Amounts to add to (or, negative, take from) the aggregates, keyed like their rows."""

    daily: dict[tuple[int, int, datetime.date], list] = field(default_factory=dict)
    rating: dict[tuple[str, datetime.date, int], Decimal] = field(default_factory=dict)
    # The people's departments and teams, ``{member: (department, team)}``, when the caller read
    # them in this transaction a moment ago (a batch of the API): else (``None``) they are read
    # when the change is applied.
    placements: dict[int, tuple[int | None, int | None]] | None = None
    # People's days an action left (a void): their low, high and last are recomputed from their
    # actions after the sums are applied, and the company's and department's days and the
    # departments' and teams' months from theirs.
    recompute: set[tuple[int, int, datetime.date]] = field(default_factory=set)
    # People's latest values of level KPIs (K11 ``last``) per period, ``(kpi, period, start,
    # member)``: ``[value, occurred_at, action id]``, merged into ``PeriodLatest`` (later wins).
    latest: dict[tuple[int, str, datetime.date, int], list] = field(default_factory=dict)
    # People's days of level KPIs an action left (a void): their periods' latest values are
    # recomputed from their days.
    latest_recompute: set[tuple[int, int, datetime.date]] = field(default_factory=set)

    def add_points(self, *, member_id: int, kpi: Kpi, day: datetime.date, delta: Decimal) -> None:
        """A change of points alone (a recalculation): the values, their count, low, high and
        last stay."""
        self.daily.setdefault((member_id, kpi.id, day), _day_entry())[1] += delta
        if kpi.counts_in_rating:
            for period, start in period_starts(day):
                key = (period, start, member_id)
                self.rating[key] = self.rating.get(key, Decimal(0)) + delta

    def add(
        self,
        *,
        member_id: int,
        kpi: Kpi,
        day: datetime.date,
        value: Decimal,
        points: Decimal,
        sign: int,
        occurred_at: datetime.datetime,
        action_id: int,
    ) -> None:
        """One action in (``sign=1``: merged into the day's low, high and last, K11) or out (-1:
        the day is recomputed, ``recompute``)."""
        key = (member_id, kpi.id, day)
        entry = self.daily.get(key)
        if entry is None:
            entry = self.daily[key] = _day_entry()
        if kpi.aggregation == Aggregation.LAST:
            self._add_latest(key, value, sign, occurred_at, action_id)
        if sign < 0:
            value, points = -value, -points
            self.recompute.add(key)
        else:
            if entry[3] is None or value < entry[3]:
                entry[3] = value
            if entry[4] is None or value > entry[4]:
                entry[4] = value
            if entry[6] is None or (occurred_at, action_id) > (entry[6], entry[7]):
                entry[5], entry[6], entry[7] = value, occurred_at, action_id
        entry[0] += value
        entry[1] += points
        entry[2] += sign
        if kpi.counts_in_rating:
            rating = self.rating
            for period, start in period_starts(day):
                key = (period, start, member_id)
                rating[key] = rating.get(key, _ZERO) + points

    def _add_latest(self, key: tuple, value: Decimal, sign: int, occurred_at, action_id: int) -> None:
        """A level KPI's action into its periods' latest values (``PeriodLatest``), or, taken
        out, its day marked for their recomputation."""
        if sign < 0:
            self.latest_recompute.add(key)
            return
        member_id, kpi_id, day = key
        latest = self.latest
        for period, start in latest_period_starts(day):
            entry_key = (kpi_id, period, start, member_id)
            entry = latest.get(entry_key)
            if entry is None or (occurred_at, action_id) > (entry[1], entry[2]):
                latest[entry_key] = [value, occurred_at, action_id]


def aggregates_apply(change: AggregateChange) -> None:
    """Add ``change`` to the aggregates: one upsert per table, keys in sorted order so that
    concurrent batches lock rows in the same order and cannot deadlock."""
    company_id = current_company_id()
    now = timezone.now()
    daily = sorted(change.daily.items())
    rating = sorted((key, points) for key, points in change.rating.items())
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            _sums_upsert(cursor, PERSON_DAYS, company_id, now, daily)
            _person_days_recompute(cursor, now, change.recompute)
            _latest_apply(cursor, company_id, now, change)
            if rating:
                cursor.execute(
                    """
                    INSERT INTO ratings_ratingtotal (company_id, period, start, member_id, points,
                        created_at, updated_at)
                    SELECT %s, t.period, t.start, t.member_id, t.points, %s, %s
                    FROM unnest(%s::text[], %s::date[], %s::bigint[], %s::numeric[])
                        AS t(period, start, member_id, points)
                    ON CONFLICT (company_id, period, start, member_id) DO UPDATE SET
                        points = ratings_ratingtotal.points + EXCLUDED.points,
                        updated_at = EXCLUDED.updated_at
                    RETURNING period, start, member_id, points
                    """,
                    [
                        company_id,
                        now,
                        now,
                        array_literal(key[0] for key, _p in rating),
                        array_literal(key[1] for key, _p in rating),
                        array_literal(key[2] for key, _p in rating),
                        array_literal(points for _k, points in rating),
                    ],
                )
                boards = _board_changes(cursor.fetchall(), change.rating)
            else:
                boards = []
            _shared_rows_apply(cursor, company_id, now, daily, boards, change)
        return
    _apply_portable(company_id, now, daily, rating, change)


def _shared_rows_apply(
    cursor, company_id: int, now, daily: list, boards: list, change: AggregateChange
) -> None:
    """The rows every recorder of the company shares, last in the transaction so that they are
    held from here to the commit only, in one order (department days, department months, team
    months, company days, boards): the departments', teams' and the company's totals per KPI and
    day or month, and the boards' sizes. The days and months of a void are recomputed after the
    upserts, on rows the upserts locked already (K11)."""
    placements = change.placements
    if placements is None:
        placements = {
            user_id: (department_id, team_id)
            for user_id, department_id, team_id in Member.objects.filter(
                Q(department_id__isnull=False) | Q(team_id__isnull=False),
                user_id__in={key[0] for key, _amounts in daily},
            )
            .values_list("user_id", "department_id", "team_id")
            .order_by()
        }
    department_days: dict[tuple, list] = defaultdict(_shared_entry)
    team_days: dict[tuple, list] = defaultdict(_shared_entry)
    company_days: dict[tuple, list] = defaultdict(_shared_entry)
    for (member_id, kpi_id, day), amounts in daily:
        entries = [company_days[(kpi_id, day)]]
        department_id, team_id = placements.get(member_id, (None, None))
        if department_id is not None:
            entries.append(department_days[(department_id, kpi_id, day)])
        if team_id is not None:
            entries.append(team_days[(team_id, kpi_id, day)])
        for entry in entries:
            _shared_merge(entry, amounts)
    _sums_upsert(cursor, DEPARTMENT_DAYS, company_id, now, sorted(department_days.items()))
    _sums_upsert(cursor, DEPARTMENT_MONTHS, company_id, now, _by_month(department_days.items()))
    _sums_upsert(cursor, TEAM_MONTHS, company_id, now, _by_month(team_days.items()))
    _sums_upsert(cursor, COMPANY_DAYS, company_id, now, sorted(company_days.items()))
    if change.recompute:
        department_voids, team_voids = set(), set()
        for member_id, kpi_id, day in change.recompute:
            department_id, team_id = placements.get(member_id, (None, None))
            if department_id is not None:
                department_voids.add((department_id, kpi_id, day))
            if team_id is not None:
                team_voids.add((team_id, kpi_id, day))
        _ranges_recompute(cursor, DEPARTMENT_DAYS, now, department_voids)
        _month_ranges_recompute(cursor, DEPARTMENT_MONTHS, now, department_voids)
        _month_ranges_recompute(cursor, TEAM_MONTHS, now, team_voids)
        _ranges_recompute(cursor, COMPANY_DAYS, now, {key[1:] for key in change.recompute})
    _boards_apply(cursor, company_id, now, boards)


def _by_month(unit_days: Iterable[tuple[tuple, list]]) -> list[tuple[tuple, list]]:
    """Departments' or teams' day changes (``(unit, KPI, day)``, ``_shared_entry``) merged into
    their months' (``DEPARTMENT_MONTHS``, ``TEAM_MONTHS``), keys sorted (locked in order)."""
    months: dict[tuple, list] = defaultdict(_shared_entry)
    for (unit_id, kpi_id, day), amounts in unit_days:
        _shared_merge(months[(unit_id, kpi_id, day.replace(day=1))], amounts)
    return sorted(months.items())


def _month_ranges_recompute(
    cursor, table: tuple[str, tuple, tuple], now, unit_days: set[tuple], *, leaving: Iterable[int] = ()
) -> None:
    """Set the low and high of the months (``DEPARTMENT_MONTHS``, ``TEAM_MONTHS``) of
    ``unit_days`` (``(unit, KPI, day)``): a department's from its days (recomputed already), a
    team's from its people's days (those in it now, but ``leaving``). One grouped read of those
    months' days."""
    if not unit_days:
        return
    keys = {(unit_id, kpi_id, day.replace(day=1)) for unit_id, kpi_id, day in unit_days}
    months = [key[-1] for key in keys]
    if table is DEPARTMENT_MONTHS:
        unit, days = "department_id", DepartmentDailyTotal.objects.all()
    else:
        unit, days = "member__team_id", DailyTotal.objects.all()
        leaving = list(leaving)
        if leaving:
            days = days.exclude(member_id__in=leaving)
    days = days.filter(
        **{f"{unit}__in": {key[0] for key in keys}},
        kpi_id__in={key[1] for key in keys},
        day__range=(min(months), calendar.period_end("month", max(months))),
    )
    found: dict[tuple, list] = {key: [None, None] for key in keys}
    ranges = (
        days.values(unit, "kpi_id", month=TruncMonth("day"))
        .annotate(lowest=Min("low"), highest=Max("high"))
        .order_by()
    )
    for row in ranges:
        key = (row[unit], row["kpi_id"], row["month"])
        if key in found:
            found[key] = [row["lowest"], row["highest"]]
    _levels_write(cursor, table, now, found)


def _shared_entry() -> list:
    """A department's, team's or the company's day or month change: ``[value, points, actions, low,
    high]``."""
    return [_ZERO, _ZERO, 0, None, None]


def _shared_merge(entry: list, amounts) -> None:
    """Add a person's day change to a shared one: the sums added, low and high merged."""
    entry[0] += amounts[0]
    entry[1] += amounts[1]
    entry[2] += amounts[2]
    low, high = amounts[3], amounts[4]
    if low is not None and (entry[3] is None or low < entry[3]):
        entry[3] = low
    if high is not None and (entry[4] is None or high > entry[4]):
        entry[4] = high


# The columns of the day tables after their key: added (the sums), merged by the lowest or highest
# (``low``, ``high``), or replaced by a later action (``last_*``, people's days only); with their
# PostgreSQL types.
_SUMS = (("value", "numeric"), ("points", "numeric"), ("actions", "int"))
_RANGE = (("low", "numeric"), ("high", "numeric"))
_LAST = (("last_value", "numeric"), ("last_at", "timestamptz"), ("last_action_id", "bigint"))

# Tables of days: the name, the columns (and their types) that key a row after the company, and
# the columns above that they keep.
PERSON_DAYS = (
    "ratings_dailytotal",
    (("member_id", "bigint"), ("kpi_id", "bigint"), ("day", "date")),
    (*_SUMS, *_RANGE, *_LAST),
)
DEPARTMENT_DAYS = (
    "ratings_departmentdailytotal",
    (("department_id", "bigint"), ("kpi_id", "bigint"), ("day", "date")),
    (*_SUMS, *_RANGE),
)
# The departments' days rolled up by calendar month (``month``: its first day).
DEPARTMENT_MONTHS = (
    "ratings_departmentmonthtotal",
    (("department_id", "bigint"), ("kpi_id", "bigint"), ("month", "date")),
    (*_SUMS, *_RANGE),
)
# The teams' people's days rolled up by calendar month.
TEAM_MONTHS = (
    "ratings_teammonthtotal",
    (("team_id", "bigint"), ("kpi_id", "bigint"), ("month", "date")),
    (*_SUMS, *_RANGE),
)
COMPANY_DAYS = ("ratings_companydailytotal", (("kpi_id", "bigint"), ("day", "date")), (*_SUMS, *_RANGE))
# People's latest values of level KPIs per period: no sums, the later action's ``last_*``.
PERIOD_LATEST = (
    "ratings_periodlatest",
    (("kpi_id", "bigint"), ("period", "text"), ("start", "date"), ("member_id", "bigint")),
    _LAST,
)


def _merged(name: str, column: str) -> str:
    """``column``'s new value when a row of ``name`` takes in ``excluded``'s: sums add up; a low
    or a high is the lower or higher of the two; ``last_*`` are the later action's. Written with
    CASE, not LEAST/GREATEST or SQLite's min()/max(), which disagree about NULL (PostgreSQL
    ignores it, SQLite returns it): a ``None`` (a void, a recalculation) keeps the row's value."""
    if column in ("value", "points", "actions"):
        return f"{column} = {name}.{column} + excluded.{column}"
    if column in ("low", "high"):
        beyond = "<" if column == "low" else ">"
        return (
            f"{column} = CASE WHEN {name}.{column} IS NULL OR excluded.{column} {beyond} {name}.{column}"
            f" THEN excluded.{column} ELSE {name}.{column} END"
        )
    later = (
        f"{name}.last_at IS NULL OR excluded.last_at > {name}.last_at OR (excluded.last_at = {name}.last_at"
        f" AND excluded.last_action_id > {name}.last_action_id)"
    )
    return f"{column} = CASE WHEN {later} THEN excluded.{column} ELSE {name}.{column} END"


def _sums_upsert(cursor, table: tuple[str, tuple, tuple], company_id: int, now, rows: list) -> None:
    """Add each row's amounts (``_day_entry``, ``_shared_entry``) to ``table``'s row of its key,
    creating it if need be: the sums added, the rest merged (``_merged``); ``rows`` are
    ``(key, amounts)`` in the order they are to be locked. On PostgreSQL one statement reads the
    columns as arrays (``unnest``), in their order; elsewhere 400 rows a statement. Only constant
    identifiers and placeholders are joined into the SQL."""
    if not rows:
        return
    name, typed_keys, typed_columns = table
    keys = [column for column, _type in typed_keys]
    kept = [column for column, _type in typed_columns]
    conflict = (
        f" ON CONFLICT (company_id, {', '.join(keys)}) DO UPDATE SET"
        f" {', '.join(_merged(name, column) for column in kept)}, updated_at = excluded.updated_at"
    )
    columns = [*keys, *kept]
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%s::{kind}[]" for _column, kind in (*typed_keys, *typed_columns))
        # The sums (or, with none, every column: a latest value) are never null.
        whole = len(_SUMS) if typed_columns[0][0] == "value" else len(kept)
        cursor.execute(
            f"INSERT INTO {name} (company_id, {', '.join(columns)}, created_at, updated_at)"  # noqa: S608
            f" SELECT %s, {', '.join(f't.{column}' for column in columns)}, %s, %s"
            f" FROM unnest({arrays}) AS t({', '.join(columns)})" + conflict,
            [
                company_id,
                now,
                now,
                *(array_literal(key[position] for key, _amounts in rows) for position in range(len(keys))),
                *(array_literal(amounts[position] for _key, amounts in rows) for position in range(whole)),
                *(
                    _nullable_array_literal(amounts[position] for _key, amounts in rows)
                    for position in range(whole, len(kept))
                ),
            ],
        )
        return
    row = "(" + ", ".join(["%s"] * (len(columns) + 3)) + ")"
    adapt = connection.ops.adapt_datetimefield_value  # as the ORM writes a time: compared as text
    for chunk in _chunks(rows, 400):
        cursor.execute(
            f"INSERT INTO {name} (company_id, {', '.join(columns)}, created_at,"  # noqa: S608
            f" updated_at) VALUES {', '.join([row] * len(chunk))}" + conflict,
            [
                param
                for key, amounts in chunk
                for param in (
                    company_id,
                    *key,
                    *(adapt(value) if isinstance(value, datetime.datetime) else value for value in amounts),
                    now,
                    now,
                )
            ],
        )


# A local day's actions happened within a day of its UTC midnight (time zones are -12 to +14 h
# away): the window that lets a recomputation read a person's actions by the index of their times.
_DAY_MARGIN = datetime.timedelta(days=1)


def _person_days_recompute(cursor, now, keys: set[tuple[int, int, datetime.date]]) -> None:
    """Set the low, high and last of people's days (``(member, kpi, day)``, rows locked by the
    upsert before) from their non-voided actions: what a void leaves (K11). One read of the
    actions and one update per day: voids come one at a time, and a person's day has few
    actions."""
    if not keys:
        return
    found: dict[tuple, list] = {key: [None, None, None, None, None] for key in keys}
    for chunk in _chunks(sorted(keys), 200):
        days = [day for _member, _kpi, day in chunk]
        start = datetime.datetime.combine(min(days), datetime.time(), datetime.UTC) - _DAY_MARGIN
        end = datetime.datetime.combine(max(days), datetime.time(), datetime.UTC) + 2 * _DAY_MARGIN
        match = Q()
        for member_id, kpi_id, day in chunk:
            match |= Q(member_id=member_id, kpi_id=kpi_id, day=day)
        actions = (
            KpiAction.objects.filter(match, voided_at__isnull=True, occurred_at__range=(start, end))
            .values_list("member_id", "kpi_id", "day", "value", "occurred_at", "id")
            .order_by()
        )
        for member_id, kpi_id, day, value, occurred_at, action_id in actions:
            levels = found[(member_id, kpi_id, day)]
            if levels[0] is None or value < levels[0]:
                levels[0] = value
            if levels[1] is None or value > levels[1]:
                levels[1] = value
            if levels[3] is None or (occurred_at, action_id) > (levels[3], levels[4]):
                levels[2], levels[3], levels[4] = value, occurred_at, action_id
    _levels_write(cursor, PERSON_DAYS, now, found)


def _latest_apply(cursor, company_id: int, now, change: AggregateChange) -> None:
    """People's latest values of level KPIs per period (``PeriodLatest``): the batch's merged in
    (later wins, as the days' ``last_*``), then those a void left recomputed from the days (which
    ``_person_days_recompute`` has just set)."""
    if change.latest:
        _sums_upsert(cursor, PERIOD_LATEST, company_id, now, sorted(change.latest.items()))
    if not change.latest_recompute:
        return
    wanted = {
        (kpi_id, period, start, member_id)
        for member_id, kpi_id, day in change.latest_recompute
        for period, start in latest_period_starts(day)
    }
    found = latest_from_days(wanted)
    gone = sorted(wanted - found.keys())
    for chunk in _chunks(gone, 200):
        match = Q()
        for kpi_id, period, start, member_id in chunk:
            match |= Q(kpi_id=kpi_id, period=period, start=start, member_id=member_id)
        PeriodLatest.objects.filter(match).delete()
    if found:
        latest_replace(cursor, company_id, now, found)


def latest_from_days(wanted: set[tuple]) -> dict[tuple, list]:
    """The latest values ``[value, occurred_at, action id]`` of ``(kpi, period, start, member)``
    keys, from the people's days in those periods (``DailyTotal``); a key without an action in
    its period is not in the result."""
    found: dict[tuple, list] = {}
    for chunk in _chunks(sorted(wanted), 200):
        match = Q()
        for kpi_id, period, start, member_id in chunk:
            match |= Q(
                kpi_id=kpi_id, member_id=member_id, day__range=(start, calendar.period_end(period, start))
            )
        days = (
            DailyTotal.objects.filter(match, actions__gt=0)
            .values_list("member_id", "kpi_id", "day", "last_value", "last_at", "last_action_id")
            .order_by()
        )
        for member_id, kpi_id, day, value, at, action_id in days:
            for period, start in latest_period_starts(day):
                key = (kpi_id, period, start, member_id)
                if key in wanted and (key not in found or (at, action_id) > tuple(found[key][1:])):
                    found[key] = [value, at, action_id]
    return found


def latest_replace(cursor, company_id: int, now, rows: dict[tuple, list]) -> None:
    """Set people's latest values per period (``PeriodLatest``) to ``rows``, whatever they were:
    a recomputation's result. One statement per row: voids come one at a time."""
    adapt = connection.ops.adapt_datetimefield_value
    cursor.executemany(
        "INSERT INTO ratings_periodlatest (company_id, kpi_id, period, start, member_id, last_value,"
        " last_at, last_action_id, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (company_id, kpi_id, period, start, member_id) DO UPDATE SET"
        " last_value = excluded.last_value, last_at = excluded.last_at,"
        " last_action_id = excluded.last_action_id, updated_at = excluded.updated_at",
        [
            (company_id, *key, value, adapt(at), action_id, adapt(now), adapt(now))
            for key, (value, at, action_id) in sorted(rows.items())
        ],
    )


def _ranges_recompute(
    cursor, table: tuple[str, tuple, tuple], now, keys: set[tuple], *, leaving: Iterable[int] = ()
) -> None:
    """Set the low and high of the company's (``COMPANY_DAYS``: ``(kpi, day)``) or departments'
    (``DEPARTMENT_DAYS``: ``(department, kpi, day)``) days from their people's days: every person's
    for the company, the department's people's (those in it now, but ``leaving``) for a
    department. One grouped read of the people's days over the keys' KPIs and days."""
    if not keys:
        return
    days = [key[-1] for key in keys]
    kpis = {key[-2] for key in keys}
    people = DailyTotal.objects.filter(kpi_id__in=kpis, day__range=(min(days), max(days)))
    group = ["kpi_id", "day"]
    if table is DEPARTMENT_DAYS:
        people = people.filter(member__department_id__in={key[0] for key in keys})
        leaving = list(leaving)
        if leaving:
            people = people.exclude(member_id__in=leaving)
        group = ["member__department_id", *group]
    found: dict[tuple, list] = {key: [None, None] for key in keys}
    ranges = people.values(*group).annotate(lowest=Min("low"), highest=Max("high")).order_by()
    for row in ranges:
        key = tuple(row[column] for column in group)
        if key in found:
            found[key] = [row["lowest"], row["highest"]]
    _levels_write(cursor, table, now, found)


def _levels_write(cursor, table: tuple[str, tuple, tuple], now, levels: dict[tuple, list]) -> None:
    """Set the recomputed columns (all after the sums) of each key's row. The rows are locked
    already, by the upsert before in the same transaction, so the order of the updates does not
    matter. On PostgreSQL one statement (a team of 33 moving on 2 M bench actions leaves 2,056
    department days: 0.04 s, where one update each took 0.48 s); elsewhere one update per row."""
    name, typed_keys, typed_columns = table
    typed_levels = typed_columns[len(_SUMS) :]
    keys = [column for column, _type in typed_keys]
    columns = [column for column, _type in typed_levels]
    rows = sorted(levels.items())
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%s::{kind}[]" for _column, kind in (*typed_keys, *typed_levels))
        cursor.execute(
            f"UPDATE {name} t SET {', '.join(f'{column} = v.{column}' for column in columns)},"  # noqa: S608
            f" updated_at = %s FROM unnest({arrays}) AS v({', '.join(keys + columns)})"
            f" WHERE t.company_id = %s AND {' AND '.join(f't.{key} = v.{key}' for key in keys)}",
            [
                now,
                *(array_literal(key[position] for key, _values in rows) for position in range(len(keys))),
                *(
                    _nullable_array_literal(values[position] for _key, values in rows)
                    for position in range(len(columns))
                ),
                current_company_id(),
            ],
        )
        return
    adapt = connection.ops.adapt_datetimefield_value
    cursor.executemany(
        f"UPDATE {name} SET {', '.join(f'{column} = %s' for column in columns)}, updated_at = %s"  # noqa: S608
        f" WHERE company_id = %s AND {' AND '.join(f'{key} = %s' for key in keys)}",
        [
            [
                *(adapt(value) if isinstance(value, datetime.datetime) else value for value in values),
                now,
                current_company_id(),
                *key,
            ]
            for key, values in rows
        ],
    )


def _moving(
    member_ids: list[int], unit: str, target: int | None, span: str, of_day=None
) -> tuple[dict[tuple, list], set[tuple]]:
    """What people about to move out of their unit (``unit``: their ``member__department_id`` or
    ``member__team_id``) into ``target`` take along: their days' sums per unit, KPI and ``span``
    (the day, or ``of_day``: its month) taken from the units they leave and, lows and highs too,
    added to ``target``'s (``_shared_entry`` by key), and the keys they leave (their lows and
    highs to recompute). One grouped read of the people's days."""
    days = DailyTotal.objects.filter(member_id__in=member_ids)
    if of_day is not None:
        days = days.annotate(**{span: of_day})
    moving = (
        days.values(unit, "kpi_id", span)
        .annotate(
            value=Sum("value"), points=Sum("points"), actions=Sum("actions"), low=Min("low"), high=Max("high")
        )
        .order_by()
    )
    changes: dict[tuple, list] = defaultdict(_shared_entry)
    left: set[tuple] = set()
    for row in moving:
        source = row[unit]
        if source == target:
            continue
        if source is not None:
            key = (source, row["kpi_id"], row[span])
            _shared_merge(changes[key], (-row["value"], -row["points"], -row["actions"], None, None))
            left.add(key)
        if target is not None:
            _shared_merge(
                changes[(target, row["kpi_id"], row[span])],
                (row["value"], row["points"], row["actions"], row["low"], row["high"]),
            )
    return changes, left


def department_totals_follow(*, member_ids: list[int], department_id: int | None) -> None:
    """People about to change department (``orgs.services``' hook) take their daily totals with
    them: out of the departments they are in, into ``department_id`` (none: out only).

    Their low and high go along too (K11). The hook runs before the move, while the people are
    still in their old departments, so both sides are right at once, with no second hook after the
    move: the new department gains people, so its days merge theirs (a min/max merge in the same
    upsert as the sums); the days they leave are recomputed from their departments' people but
    them (``_ranges_recompute(leaving=...)``), which reads each old department's people's days once
    (a grouped read) rather than each day's whole company."""
    changes, left = _moving(member_ids, "member__department_id", department_id, "day")
    if changes:
        now = timezone.now()
        with connection.cursor() as cursor:
            _sums_upsert(cursor, DEPARTMENT_DAYS, current_company_id(), now, sorted(changes.items()))
            _sums_upsert(cursor, DEPARTMENT_MONTHS, current_company_id(), now, _by_month(changes.items()))
            _ranges_recompute(cursor, DEPARTMENT_DAYS, now, left, leaving=member_ids)
            _month_ranges_recompute(cursor, DEPARTMENT_MONTHS, now, left)


# People's latest values of level KPIs per period from people's days (``rebuilt_daily`` in a
# rebuild, ``ratings_dailytotal`` when a KPI becomes a level): of each person's days in a week,
# month, quarter or year, the ``last_*`` of the latest (PostgreSQL's ``date_trunc`` weeks start on
# Monday, as ``kpi_platform.periods``').
_LATEST_OF_DAYS = """
    SELECT DISTINCT ON (d.kpi_id, p.period, p.start, d.member_id) d.kpi_id, p.period, p.start,
        d.member_id, d.last_value, d.last_at, d.last_action_id
    FROM {days} d CROSS JOIN LATERAL (VALUES
        ('week'::varchar, date_trunc('week', d.day)::date),
        ('month', date_trunc('month', d.day)::date),
        ('quarter', date_trunc('quarter', d.day)::date),
        ('year', date_trunc('year', d.day)::date)
    ) AS p(period, start)
    WHERE {where} AND d.kpi_id = ANY(%(levels)s) AND d.actions > 0
    ORDER BY d.kpi_id, p.period, p.start, d.member_id, d.last_at DESC, d.last_action_id DESC
"""


def latest_values_follow(*, kpi: Kpi, aggregation_before: str) -> None:
    """A KPI whose aggregation changed (a kpis hook, in the transaction of the change, whose
    ``UPDATE`` holds the recorders of the KPI off): become a level (K11 ``last``), its people's
    latest values per period are built from their days; no longer one, they are dropped."""
    was, now_level = aggregation_before == Aggregation.LAST, kpi.aggregation == Aggregation.LAST
    if was == now_level:
        return
    PeriodLatest.objects.filter(kpi_id=kpi.id).delete()
    if not now_level:
        return
    company_id = current_company_id()
    now = timezone.now()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO ratings_periodlatest (company_id, kpi_id, period, start, member_id,"  # noqa: S608
                " last_value, last_at, last_action_id, created_at, updated_at)"
                " SELECT %(company)s, l.*, %(now)s, %(now)s FROM ("
                + _LATEST_OF_DAYS.format(days="ratings_dailytotal", where="d.company_id = %(company)s")
                + ") l",
                {"company": company_id, "now": now, "levels": [kpi.id]},
            )
        return
    change = AggregateChange()
    days = DailyTotal.objects.filter(kpi_id=kpi.id, actions__gt=0).values_list(
        "member_id", "day", "last_value", "last_at", "last_action_id"
    )
    for member_id, day, value, at, action_id in days.iterator(chunk_size=5000):
        change._add_latest((member_id, kpi.id, day), value, 1, at, action_id)
    with connection.cursor() as cursor:
        _sums_upsert(cursor, PERIOD_LATEST, company_id, now, sorted(change.latest.items()))


def team_totals_follow(*, member_ids: list[int], team_id: int | None) -> None:
    """People about to change team (``orgs.services``' hook) take their totals with them: out of
    their teams' months, into ``team_id``'s (none: out only), lows and highs too, as
    ``department_totals_follow`` does for departments: the months they leave are recomputed from
    their teams' people but them."""
    changes, left = _moving(member_ids, "member__team_id", team_id, "month", TruncMonth("day"))
    if changes:
        now = timezone.now()
        with connection.cursor() as cursor:
            _sums_upsert(cursor, TEAM_MONTHS, current_company_id(), now, sorted(changes.items()))
            _month_ranges_recompute(cursor, TEAM_MONTHS, now, left, leaving=member_ids)


def department_totals_delete(*, department, teams) -> None:
    """A deleted department's or team's totals (``orgs.services``' hook, after its people moved
    out)."""
    if department is not None:
        DepartmentDailyTotal.objects.filter(department_id=department.id).delete()
        DepartmentMonthTotal.objects.filter(department_id=department.id).delete()
    if teams:
        TeamMonthTotal.objects.filter(team_id__in=[team.id for team in teams]).delete()


def _board_changes(totals: list[tuple], deltas: dict) -> list[tuple[tuple[str, datetime.date], int]]:
    """How many people each board gains (points now, none before) or loses, from the rating totals
    as an upsert returned them and the amounts it added; keys sorted (locked in order)."""
    changes: dict[tuple[str, datetime.date], int] = defaultdict(int)
    for period, start, member_id, points in totals:
        before = points - deltas[(period, start, member_id)]
        changes[(period, start)] += (points > 0) - (before > 0)
    return sorted((key, change) for key, change in changes.items() if change)


def _boards_apply(cursor, company_id: int, now, changes: list) -> None:
    if changes:
        cursor.execute(
            # Only placeholders are joined into the SQL; the values are parameters.
            "INSERT INTO ratings_ratingboard (company_id, period, start, people, created_at,"  # noqa: S608
            " updated_at) VALUES "
            + ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(changes))
            + " ON CONFLICT (company_id, period, start) DO UPDATE SET"
            " people = ratings_ratingboard.people + excluded.people, updated_at = excluded.updated_at",
            [
                param
                for (period, start), people in changes
                for param in (company_id, period, start, people, now, now)
            ],
        )


def _apply_portable(company_id: int, now, daily: list, rating: list, change: AggregateChange) -> None:
    """The same upserts as plain ``INSERT … ON CONFLICT`` (SQLite has it too), in chunks."""
    totals: list[tuple] = []
    with connection.cursor() as cursor:
        _sums_upsert(cursor, PERSON_DAYS, company_id, now, daily)
        _person_days_recompute(cursor, now, change.recompute)
        _latest_apply(cursor, company_id, now, change)
        for chunk in _chunks(rating, 400):
            cursor.execute(
                "INSERT INTO ratings_ratingtotal (company_id, period, start, member_id, points, created_at,"  # noqa: S608
                " updated_at) VALUES "
                + ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(chunk))
                + " ON CONFLICT (company_id, period, start, member_id) DO UPDATE SET"
                " points = ratings_ratingtotal.points + excluded.points, updated_at = excluded.updated_at"
                " RETURNING period, start, member_id, points",
                [
                    param
                    for (period, start, member_id), points in chunk
                    for param in (company_id, period, start, member_id, points, now, now)
                ],
            )
            totals += cursor.fetchall()
        boards = _board_changes(_typed(totals), change.rating)
        _shared_rows_apply(cursor, company_id, now, daily, boards, change)


def _typed(totals: list[tuple]) -> list[tuple]:
    """SQLite returns dates as text and decimals as floats: as the ORM would read them."""
    return [
        (period, datetime.date.fromisoformat(str(start)), member_id, Decimal(str(points)).quantize(CENT))
        for period, start, member_id, points in totals
    ]


def _chunks(rows: list, size: int):
    for position in range(0, len(rows), size):
        yield rows[position : position + size]


# --- Rebuild -----------------------------------------------------------------------------------------


# Rebuilding reads the whole company: its aggregates and joins hash millions of rows, in memory
# rather than in a hundred batches on disk as the server's default (4 MB) would have them.
REBUILD_WORK_MEM = "1GB"

# On PostgreSQL the rebuild computes the aggregates afresh into temporary tables (unlogged, without
# indexes) and then writes only the rows that differ: usually none, so a rebuild that confirms the
# incremental totals reads 10 M actions and rewrites nothing, instead of deleting and inserting
# 16 M index-bearing rows (bench/ratings_rebuild.py).
#
# The day's last action (K11), the greatest (occurred_at, id), costs the hash aggregate nothing
# where a day has one action (most of them: 1.93 M days of 2 M bench actions): its value is the
# day's only value (``MIN(value)``, the low's aggregate, computed once) and its id the greatest.
# The days with more are then looked up one by one, by the index of a person's actions and times
# (``_REBUILT_DAILY_LAST``). Measured on 2 M bench actions (CPU seconds of the statement alone):
# the sums 5.4-5.6 s, with low, high and this last 6.8-7.0 s plus 1.1 s for the lookups (56,000
# days); ``MAX(ARRAY[EXTRACT(EPOCH FROM occurred_at), id, value])`` in the aggregate 9.0-9.5 s;
# DISTINCT ON over a window sorted once 8.1-8.3 s (a sort of every action, which grows faster
# than the hash); ``array_agg(value ORDER BY …)`` (no hash aggregate on PostgreSQL 15) slower
# still. The whole rebuild of those 2 M actions: 28.9 s before K11, 34.1-34.4 s with it.
#
# Nearly every action is a day of its own, so the planner's hash holds 10 M groups and spills at
# 10 M bench actions; it is switched off for this statement, which then sorts the actions by
# person, KPI and day and groups them in order: 23-25 s instead of 39-44 s, and the days come out
# in that order, so the passes over them that group by person (the ratings) or join the people
# (departments, teams) find their keys together, and the insertion in key order sorts nothing
# (the ratings' pass: 27 s instead of 48 s).
_REBUILT_DAILY = """
    CREATE TEMPORARY TABLE rebuilt_daily ON COMMIT DROP AS
    SELECT member_id, kpi_id, day, SUM(value) AS value, SUM(points) AS points, COUNT(*)::int AS actions,
        MIN(value) AS low, MAX(value) AS high, MIN(value) AS last_value, MAX(occurred_at) AS last_at,
        MAX(id) AS last_action_id
    FROM ratings_kpiaction
    WHERE company_id = %(company)s AND voided_at IS NULL
    GROUP BY member_id, kpi_id, day
"""

# Every comparison here is leakproof (integers, dates, times), so under row-level security it
# is still an index condition; JIT is off for it (its compilation, 0.3 s, outweighs the probes).
_REBUILT_DAILY_LAST = """
    UPDATE rebuilt_daily d SET (last_value, last_action_id) = (
        SELECT a.value, a.id FROM ratings_kpiaction a
        WHERE a.company_id = %(company)s AND a.member_id = d.member_id AND a.occurred_at = d.last_at
            AND a.kpi_id = d.kpi_id AND a.day = d.day AND a.voided_at IS NULL
        ORDER BY a.id DESC LIMIT 1
    )
    WHERE d.actions > 1
"""

# One pass over the counting daily totals sums each person's weeks and months (GROUPING SETS);
# quarters, years and all time are rolled up from the months, not from the days again. The
# counting KPIs (R6) are ``Kpi.objects.counting_in_rating()``, compiled into the statement.
_REBUILT_RATING = """
    CREATE TEMPORARY TABLE rebuilt_rating ON COMMIT DROP AS
    WITH sums AS MATERIALIZED (
        SELECT d.member_id, date_trunc('week', d.day)::date AS week,
            date_trunc('month', d.day)::date AS month, SUM(d.points) AS points
        FROM rebuilt_daily d
        WHERE d.kpi_id IN ({counting})
        GROUP BY GROUPING SETS ((d.member_id, date_trunc('week', d.day)),
                                (d.member_id, date_trunc('month', d.day)))
    ), months AS (
        SELECT member_id, month, points FROM sums WHERE month IS NOT NULL
    )
    SELECT 'week'::varchar AS period, week AS start, member_id, points FROM sums WHERE week IS NOT NULL
    UNION ALL SELECT 'month', month, member_id, points FROM months
    UNION ALL SELECT 'quarter', date_trunc('quarter', month)::date, member_id, SUM(points)
        FROM months GROUP BY 2, 3
    UNION ALL SELECT 'year', date_trunc('year', month)::date, member_id, SUM(points)
        FROM months GROUP BY 2, 3
    UNION ALL SELECT 'all', DATE '1970-01-01', member_id, SUM(points) FROM months GROUP BY 3
"""

_REBUILT_COMPANY = """
    CREATE TEMPORARY TABLE rebuilt_company ON COMMIT DROP AS
    SELECT kpi_id, day, SUM(value) AS value, SUM(points) AS points, SUM(actions)::int AS actions,
        MIN(low) AS low, MAX(high) AS high
    FROM rebuilt_daily GROUP BY kpi_id, day
"""

# The departments' days and the teams' months in one pass over the people's days joined to where
# the people are (GROUPING SETS; ``placed_by_team`` tells the sets apart), split after: one read of
# the 10 M bench days, not two (bench: 16 + 11 s before, 15 s together).
_REBUILT_PLACED = """
    CREATE TEMPORARY TABLE rebuilt_placed ON COMMIT DROP AS
    SELECT m.department_id, m.team_id, d.kpi_id, d.day, date_trunc('month', d.day)::date AS month,
        GROUPING(m.team_id) = 0 AS placed_by_team, SUM(d.value) AS value, SUM(d.points) AS points,
        SUM(d.actions)::int AS actions, MIN(d.low) AS low, MAX(d.high) AS high
    FROM rebuilt_daily d JOIN orgs_member m ON m.user_id = d.member_id
    WHERE m.company_id = %(company)s AND (m.department_id IS NOT NULL OR m.team_id IS NOT NULL)
    GROUP BY GROUPING SETS ((m.department_id, d.kpi_id, d.day),
                            (m.team_id, d.kpi_id, date_trunc('month', d.day)))
"""

_REBUILT_DEPARTMENT = """
    CREATE TEMPORARY TABLE rebuilt_department ON COMMIT DROP AS
    SELECT department_id, kpi_id, day, value, points, actions, low, high FROM rebuilt_placed
    WHERE NOT placed_by_team AND department_id IS NOT NULL
"""

_REBUILT_DEPARTMENT_MONTH = """
    CREATE TEMPORARY TABLE rebuilt_department_month ON COMMIT DROP AS
    SELECT department_id, kpi_id, date_trunc('month', day)::date AS month, SUM(value) AS value,
        SUM(points) AS points, SUM(actions)::int AS actions, MIN(low) AS low, MAX(high) AS high
    FROM rebuilt_department GROUP BY 1, 2, 3
"""

_REBUILT_TEAM_MONTH = """
    CREATE TEMPORARY TABLE rebuilt_team_month ON COMMIT DROP AS
    SELECT team_id, kpi_id, month, value, points, actions, low, high FROM rebuilt_placed
    WHERE placed_by_team AND team_id IS NOT NULL
"""

# (table, key columns, summed columns (zero when empty), level columns (null when empty: K11), the
# temporary table's rows)
_DAY_SUMS = ("value", "points", "actions")
_REBUILT = (
    (
        "ratings_dailytotal",
        ("member_id", "kpi_id", "day"),
        _DAY_SUMS,
        ("low", "high", "last_value", "last_at", "last_action_id"),
        "rebuilt_daily",
    ),
    ("ratings_companydailytotal", ("kpi_id", "day"), _DAY_SUMS, ("low", "high"), "rebuilt_company"),
    (
        "ratings_departmentdailytotal",
        ("department_id", "kpi_id", "day"),
        _DAY_SUMS,
        ("low", "high"),
        "rebuilt_department",
    ),
    (
        "ratings_departmentmonthtotal",
        ("department_id", "kpi_id", "month"),
        _DAY_SUMS,
        ("low", "high"),
        "rebuilt_department_month",
    ),
    (
        "ratings_teammonthtotal",
        ("team_id", "kpi_id", "month"),
        _DAY_SUMS,
        ("low", "high"),
        "rebuilt_team_month",
    ),
    ("ratings_ratingtotal", ("period", "start", "member_id"), ("points",), (), "rebuilt_rating"),
    (
        "ratings_periodlatest",
        ("kpi_id", "period", "start", "member_id"),
        (),
        ("last_value", "last_at", "last_action_id"),
        "rebuilt_latest",
    ),
)


def _write_differences(
    cursor, table: str, keys: tuple, sums: tuple, levels: tuple, rebuilt: str, params: dict
) -> int:
    """Make ``table``'s rows of the company equal ``rebuilt``: one full join of the two finds the
    rows that differ (usually none), then only those are deleted, corrected or inserted. Rows whose
    amounts went back to zero and levels to null (voids) are kept, as the incremental upkeep keeps
    them. A company with none of these rows yet (its first build) gets the rebuilt rows as they
    are, without the join (bench: 15 s of 10 M days and 6 M ratings). Returns how many rows
    changed. Only constant identifiers are joined into the SQL; values are parameters."""
    values = sums + levels
    columns = ", ".join(keys + values)
    cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE company_id = %(company)s)", params)  # noqa: S608
    if not cursor.fetchone()[0]:
        return _rows_insert(cursor, table, keys, columns, rebuilt, params)
    same_key = " AND ".join(f"r.{key} = t.{key}" for key in keys)
    kept, fresh = (", ".join(f"{side}.{value}" for value in values) for side in ("t", "r"))
    kept_sums = ", ".join(f"t.{value}" for value in sums)
    zeros = ", ".join("0" for _ in sums)
    empty = "".join(f" AND t.{level} IS NULL" for level in levels)
    # A table without sums (people's latest values) keeps no emptied rows: a row the rebuild has
    # not is in excess.
    kept_empty = f" AND NOT (r.{keys[0]} IS NULL AND ({kept_sums}, 0) = ({zeros}, 0){empty})" if sums else ""
    cursor.execute(
        f"CREATE TEMPORARY TABLE differences AS SELECT t.{keys[0]} IS NOT NULL AS present,"  # noqa: S608
        f" {', '.join(f'COALESCE(r.{key}, t.{key}) AS {key}' for key in keys)},"
        f" {', '.join(f'r.{value}' for value in values)}, r.{keys[0]} IS NOT NULL AS rebuilt"
        f" FROM {rebuilt} r FULL JOIN (SELECT {columns} FROM {table}"
        f" WHERE company_id = %(company)s) t ON {same_key}"
        f" WHERE ({kept}, 0) IS DISTINCT FROM ({fresh}, 0){kept_empty}",
        params,
    )
    changed = cursor.rowcount
    if changed:
        by_key = " AND ".join(f"d.{key} = t.{key}" for key in keys)
        cursor.execute(
            f"DELETE FROM {table} t USING differences d"  # noqa: S608
            f" WHERE t.company_id = %(company)s AND NOT d.rebuilt AND {by_key}",
            params,
        )
        assignments = ", ".join(f"{value} = d.{value}" for value in values)
        cursor.execute(
            f"UPDATE {table} t SET {assignments}, updated_at = %(now)s FROM differences d"  # noqa: S608
            f" WHERE t.company_id = %(company)s AND d.rebuilt AND d.present AND {by_key}",
            params,
        )
        _rows_insert(cursor, table, keys, columns, "differences WHERE NOT present", params)
    cursor.execute("DROP TABLE differences")
    return changed


def _rows_insert(cursor, table: str, keys: tuple, columns: str, source: str, params: dict) -> int:
    """Insert ``source``'s rows into ``table`` in key order (its primary key's pages filled in turn)."""
    cursor.execute(
        f"INSERT INTO {table} (company_id, {columns}, created_at, updated_at)"  # noqa: S608
        f" SELECT %(company)s, {columns}, %(now)s, %(now)s FROM {source} ORDER BY {', '.join(keys)}",
        params,
    )
    return cursor.rowcount


_REBUILT_BOARDS = """
    INSERT INTO ratings_ratingboard (company_id, period, start, people, created_at, updated_at)
    SELECT %(company)s, period, start, COUNT(*), %(now)s, %(now)s
    FROM rebuilt_rating WHERE points > 0
    GROUP BY period, start
"""


@contextmanager
def _setting(cursor, name: str, value: str):
    """A planner setting changed for the statements inside, then put back (in the transaction)."""
    cursor.execute("SELECT current_setting(%s), set_config(%s, %s, true)", [name, name, value])
    before = cursor.fetchone()[0]
    yield
    cursor.execute("SELECT set_config(%s, %s, true)", [name, before])


@dataclass(frozen=True)
class RebuildResult:
    daily: int  # rows of daily totals
    rating: int  # rows of rating totals
    corrected: int  # rows of either that were missing, wrong or in excess


@transaction.atomic
def aggregates_rebuild() -> RebuildResult:
    """Recompute the company's aggregates from its actions (``manage.py rebuild_ratings``): the
    result must equal the incrementally kept ones, and ``corrected`` says how many rows did not."""
    company_id = current_company_id()
    now = timezone.now()
    if connection.vendor == "postgresql":
        params = {"company": company_id, "now": now}
        corrected = 0
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('work_mem', %s, true)", [REBUILD_WORK_MEM])
            with _setting(cursor, "enable_hashagg", "off"):
                cursor.execute(_REBUILT_DAILY, params)
            with _setting(cursor, "jit", "off"):
                cursor.execute(_REBUILT_DAILY_LAST, params)
            cursor.execute("ANALYZE rebuilt_daily")
            counting = Kpi.objects.counting_in_rating().order_by().values("id").query
            counting_sql, counting_params = counting.sql_with_params()
            cursor.execute(_REBUILT_RATING.format(counting=counting_sql), counting_params)
            cursor.execute("ANALYZE rebuilt_rating")
            cursor.execute(_REBUILT_COMPANY, params)
            cursor.execute(_REBUILT_PLACED, params)
            cursor.execute(_REBUILT_DEPARTMENT)
            cursor.execute(_REBUILT_DEPARTMENT_MONTH)
            cursor.execute(_REBUILT_TEAM_MONTH)
            levels = list(Kpi.objects.filter(aggregation=Aggregation.LAST).values_list("id", flat=True))
            cursor.execute(
                "CREATE TEMPORARY TABLE rebuilt_latest ON COMMIT DROP AS "
                + _LATEST_OF_DAYS.format(days="rebuilt_daily", where="TRUE"),
                {"levels": levels},
            )
            for table, keys, sums, levels, rebuilt in _REBUILT:
                corrected += _write_differences(cursor, table, keys, sums, levels, rebuilt, params)
            RatingBoard.objects.all().delete()  # a few hundred rows
            cursor.execute(_REBUILT_BOARDS, params)
            cursor.execute(
                "SELECT (SELECT COUNT(*) FROM rebuilt_daily), (SELECT COUNT(*) FROM rebuilt_rating)"
            )
            daily, rating = cursor.fetchone()
            # Not left to ON COMMIT: a caller's transaction may rebuild several companies.
            cursor.execute(
                "DROP TABLE rebuilt_daily, rebuilt_rating, rebuilt_company, rebuilt_placed,"
                " rebuilt_department, rebuilt_department_month, rebuilt_team_month, rebuilt_latest"
            )
        return RebuildResult(daily=daily, rating=rating, corrected=corrected)
    before = _aggregate_rows()
    DailyTotal.objects.all().delete()
    CompanyDailyTotal.objects.all().delete()
    DepartmentDailyTotal.objects.all().delete()
    DepartmentMonthTotal.objects.all().delete()
    TeamMonthTotal.objects.all().delete()
    RatingTotal.objects.all().delete()
    RatingBoard.objects.all().delete()
    PeriodLatest.objects.all().delete()
    change = AggregateChange()
    counting = {kpi.id: kpi for kpi in Kpi.objects.all()}
    for action in KpiAction.objects.filter(voided_at__isnull=True).iterator(chunk_size=5000):
        change.add(
            member_id=action.member_id,
            kpi=counting[action.kpi_id],
            day=action.day,
            value=action.value,
            points=action.points,
            sign=1,
            occurred_at=action.occurred_at,
            action_id=action.id,
        )
    aggregates_apply(change)
    after = _aggregate_rows()
    corrected = sum(before.get(key) != after.get(key) for key in before.keys() | after.keys())
    return RebuildResult(daily=len(change.daily), rating=len(change.rating), corrected=corrected)


def _aggregate_rows() -> dict[tuple, tuple]:
    """Every aggregate row with an amount or a level, by key (the portable rebuild compares before
    and after)."""
    daily = DailyTotal.objects.values_list(
        "member_id", "kpi_id", "day", *_DAY_SUMS, "low", "high", "last_value", "last_at", "last_action_id"
    )
    rating = RatingTotal.objects.values_list("period", "start", "member_id", "points")
    rows = {("daily", *row[:3]): row[3:] for row in daily if _not_empty(row[3:])}
    rows.update({("rating", *row[:3]): row[3:] for row in rating if row[3]})
    company = CompanyDailyTotal.objects.values_list("kpi_id", "day", *_DAY_SUMS, "low", "high")
    rows.update({("company", *row[:2]): row[2:] for row in company if _not_empty(row[2:])})
    department = DepartmentDailyTotal.objects.values_list(
        "department_id", "kpi_id", "day", *_DAY_SUMS, "low", "high"
    )
    rows.update({("department", *row[:3]): row[3:] for row in department if _not_empty(row[3:])})
    months = DepartmentMonthTotal.objects.values_list(
        "department_id", "kpi_id", "month", *_DAY_SUMS, "low", "high"
    )
    rows.update({("department month", *row[:3]): row[3:] for row in months if _not_empty(row[3:])})
    teams = TeamMonthTotal.objects.values_list("team_id", "kpi_id", "month", *_DAY_SUMS, "low", "high")
    rows.update({("team month", *row[:3]): row[3:] for row in teams if _not_empty(row[3:])})
    latest = PeriodLatest.objects.values_list(
        "kpi_id", "period", "start", "member_id", "last_value", "last_at", "last_action_id"
    )
    rows.update({("latest", *row[:4]): row[4:] for row in latest})
    return rows


def _not_empty(values: tuple) -> bool:
    """A day row's sums and levels: not all zero and null, as a void leaves a row (and the rebuild
    keeps it)."""
    return any(values[: len(_DAY_SUMS)]) or any(level is not None for level in values[len(_DAY_SUMS) :])
