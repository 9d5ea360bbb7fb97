"""The rating aggregates and their upkeep (R6): ``AggregateChange`` sums what a write adds to them
or takes from them, ``aggregates_apply`` adds it in one sorted upsert per table in the writer's
transaction, and ``aggregates_rebuild`` recomputes them from the actions (``rebuild_ratings``).

The aggregates are daily totals per person and KPI (and per KPI for the whole company and for each
department's people), rating totals per person and period of the KPIs that count, and each
board's size. Recording, voiding, a recalculation and a KPI that starts or stops counting keep
them through this module; ``department_totals_follow`` and ``department_totals_delete`` keep the
departments' totals when people move or a department goes.
"""

import datetime
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from kpi_platform.decimals import CENT
from kpis.models import Kpi
from orgs.models import Member
from orgs.tenancy import current_company_id
from ratings.models import (
    CompanyDailyTotal,
    DailyTotal,
    DepartmentDailyTotal,
    KpiAction,
    RatingBoard,
    RatingTotal,
)
from ratings.periods import period_starts

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


@dataclass
class AggregateChange:
    """Amounts to add to (or, negative, take from) the aggregates, keyed like their rows."""

    daily: dict[tuple[int, int, datetime.date], list] = field(default_factory=dict)
    rating: dict[tuple[str, datetime.date, int], Decimal] = field(default_factory=dict)
    # The people's departments, when the caller read them in this transaction a moment ago (a
    # batch of the API): else (``None``) they are read when the change is applied.
    departments: dict[int, int | None] | None = None

    def add_points(self, *, member_id: int, kpi: Kpi, day: datetime.date, delta: Decimal) -> None:
        """A change of points alone (a recalculation): the value and the count stay."""
        self.daily.setdefault((member_id, kpi.id, day), [Decimal(0), Decimal(0), 0])[1] += delta
        if kpi.counts_in_rating:
            for period, start in period_starts(day):
                key = (period, start, member_id)
                self.rating[key] = self.rating.get(key, Decimal(0)) + delta

    def add(
        self, *, member_id: int, kpi: Kpi, day: datetime.date, value: Decimal, points: Decimal, sign: int
    ) -> None:
        key = (member_id, kpi.id, day)
        entry = self.daily.get(key)
        if entry is None:
            entry = self.daily[key] = [_ZERO, _ZERO, 0]
        if sign < 0:
            value, points = -value, -points
        entry[0] += value
        entry[1] += points
        entry[2] += sign
        if kpi.counts_in_rating:
            rating = self.rating
            for period, start in period_starts(day):
                key = (period, start, member_id)
                rating[key] = rating.get(key, _ZERO) + points


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
            _shared_rows_apply(cursor, company_id, now, daily, boards, change.departments)
        return
    _apply_portable(company_id, now, daily, rating, change)


def _shared_rows_apply(cursor, company_id: int, now, daily: list, boards: list, departments) -> None:
    """The rows every recorder of the company shares, last in the transaction so that they are
    held from here to the commit only, in one order (department days, company days, boards): the
    departments' and the company's totals per KPI and day, and the boards' sizes."""
    if departments is None:
        departments = dict(
            Member.objects.filter(
                user_id__in={key[0] for key, _amounts in daily}, department_id__isnull=False
            )
            .values_list("user_id", "department_id")
            .order_by()
        )
    department_days: dict[tuple, list] = defaultdict(lambda: [Decimal(0), Decimal(0), 0])
    company_days: dict[tuple, list] = defaultdict(lambda: [Decimal(0), Decimal(0), 0])
    for (member_id, kpi_id, day), amounts in daily:
        sums = [company_days[(kpi_id, day)]]
        department_id = departments.get(member_id)
        if department_id is not None:
            sums.append(department_days[(department_id, kpi_id, day)])
        for entry in sums:
            for position in range(3):
                entry[position] += amounts[position]
    _sums_upsert(cursor, DEPARTMENT_DAYS, company_id, now, sorted(department_days.items()))
    _sums_upsert(cursor, COMPANY_DAYS, company_id, now, sorted(company_days.items()))
    _boards_apply(cursor, company_id, now, boards)


# Tables of (value, points, actions) sums, with the columns (and their types) that key a row after
# the company.
PERSON_DAYS = ("ratings_dailytotal", (("member_id", "bigint"), ("kpi_id", "bigint"), ("day", "date")))
DEPARTMENT_DAYS = (
    "ratings_departmentdailytotal",
    (("department_id", "bigint"), ("kpi_id", "bigint"), ("day", "date")),
)
COMPANY_DAYS = ("ratings_companydailytotal", (("kpi_id", "bigint"), ("day", "date")))


def _sums_upsert(cursor, table: tuple[str, tuple], company_id: int, now, rows: list) -> None:
    """Add each row's ``(value, points, actions)`` to ``table``'s row of its key, creating it if
    need be; ``rows`` are ``(key, amounts)`` in the order they are to be locked. On PostgreSQL one
    statement reads the columns as arrays (``unnest``), in their order; elsewhere 400 rows a
    statement. Only constant identifiers and placeholders are joined into the SQL."""
    if not rows:
        return
    name, typed_keys = table
    keys = [column for column, _type in typed_keys]
    conflict = (
        f" ON CONFLICT (company_id, {', '.join(keys)}) DO UPDATE SET"
        f" value = {name}.value + excluded.value, points = {name}.points + excluded.points,"
        f" actions = {name}.actions + excluded.actions, updated_at = excluded.updated_at"
    )
    if connection.vendor == "postgresql":
        columns = [*keys, "value", "points", "actions"]
        arrays = ", ".join(
            f"%s::{kind}[]" for kind in [*(k for _c, k in typed_keys), "numeric", "numeric", "int"]
        )
        cursor.execute(
            f"INSERT INTO {name} (company_id, {', '.join(columns)}, created_at, updated_at)"  # noqa: S608
            f" SELECT %s, {', '.join(f't.{column}' for column in columns)}, %s, %s"
            f" FROM unnest({arrays}) AS t({', '.join(columns)})" + conflict,
            [
                company_id,
                now,
                now,
                *(array_literal(key[position] for key, _amounts in rows) for position in range(len(keys))),
                *(array_literal(amounts[position] for _key, amounts in rows) for position in range(3)),
            ],
        )
        return
    row = "(" + ", ".join(["%s"] * (len(keys) + 6)) + ")"
    for chunk in _chunks(rows, 400):
        cursor.execute(
            f"INSERT INTO {name} (company_id, {', '.join(keys)}, value, points, actions, created_at,"  # noqa: S608
            f" updated_at) VALUES {', '.join([row] * len(chunk))}" + conflict,
            [
                param
                for key, (value, points, count) in chunk
                for param in (company_id, *key, value, points, count, now, now)
            ],
        )


def department_totals_follow(*, member_ids: list[int], department_id: int | None) -> None:
    """People about to change department (``orgs.services``' hook) take their daily totals with
    them: out of the departments they are in, into ``department_id`` (none: out only)."""
    moving = (
        DailyTotal.objects.filter(member_id__in=member_ids)
        .values("member__department_id", "kpi_id", "day")
        .annotate(value=Sum("value"), points=Sum("points"), actions=Sum("actions"))
        .order_by()
    )
    changes: dict[tuple, list] = defaultdict(lambda: [Decimal(0), Decimal(0), 0])
    for row in moving:
        amounts = (row["value"], row["points"], row["actions"])
        for department, sign in ((row["member__department_id"], -1), (department_id, 1)):
            if department is not None and row["member__department_id"] != department_id:
                entry = changes[(department, row["kpi_id"], row["day"])]
                for position in range(3):
                    entry[position] += sign * amounts[position]
    if changes:
        with connection.cursor() as cursor:
            _sums_upsert(
                cursor, DEPARTMENT_DAYS, current_company_id(), timezone.now(), sorted(changes.items())
            )


def department_totals_delete(*, department, teams) -> None:
    """A deleted department's totals (``orgs.services``' hook, after its people moved out)."""
    if department is not None:
        DepartmentDailyTotal.objects.filter(department_id=department.id).delete()


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
        _shared_rows_apply(cursor, company_id, now, daily, boards, change.departments)


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
_REBUILT_DAILY = """
    CREATE TEMPORARY TABLE rebuilt_daily ON COMMIT DROP AS
    SELECT member_id, kpi_id, day, SUM(value) AS value, SUM(points) AS points, COUNT(*)::int AS actions
    FROM ratings_kpiaction
    WHERE company_id = %(company)s AND voided_at IS NULL
    GROUP BY member_id, kpi_id, day
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

# (table, key columns, value columns, the temporary table's rows)
_REBUILT_COMPANY = """
    CREATE TEMPORARY TABLE rebuilt_company ON COMMIT DROP AS
    SELECT kpi_id, day, SUM(value) AS value, SUM(points) AS points, SUM(actions)::int AS actions
    FROM rebuilt_daily GROUP BY kpi_id, day
"""

_REBUILT_DEPARTMENT = """
    CREATE TEMPORARY TABLE rebuilt_department ON COMMIT DROP AS
    SELECT m.department_id, d.kpi_id, d.day, SUM(d.value) AS value, SUM(d.points) AS points,
        SUM(d.actions)::int AS actions
    FROM rebuilt_daily d JOIN orgs_member m ON m.user_id = d.member_id
    WHERE m.company_id = %(company)s AND m.department_id IS NOT NULL
    GROUP BY m.department_id, d.kpi_id, d.day
"""

_REBUILT = (
    ("ratings_dailytotal", ("member_id", "kpi_id", "day"), ("value", "points", "actions"), "rebuilt_daily"),
    ("ratings_companydailytotal", ("kpi_id", "day"), ("value", "points", "actions"), "rebuilt_company"),
    (
        "ratings_departmentdailytotal",
        ("department_id", "kpi_id", "day"),
        ("value", "points", "actions"),
        "rebuilt_department",
    ),
    ("ratings_ratingtotal", ("period", "start", "member_id"), ("points",), "rebuilt_rating"),
)


def _write_differences(cursor, table: str, keys: tuple, values: tuple, rebuilt: str, params: dict) -> int:
    """Make ``table``'s rows of the company equal ``rebuilt``: one full join of the two finds the
    rows that differ (usually none), then only those are deleted, corrected or inserted. Rows whose
    amounts went back to zero (voids) are kept, as the incremental upkeep keeps them. Returns how
    many rows changed. Only constant identifiers are joined into the SQL; values are parameters."""
    same_key = " AND ".join(f"r.{key} = t.{key}" for key in keys)
    kept, fresh = (", ".join(f"{side}.{value}" for value in values) for side in ("t", "r"))
    zeros = ", ".join("0" for _ in values)
    cursor.execute(
        f"CREATE TEMPORARY TABLE differences AS SELECT t.{keys[0]} IS NOT NULL AS present,"  # noqa: S608
        f" {', '.join(f'COALESCE(r.{key}, t.{key}) AS {key}' for key in keys)},"
        f" {', '.join(f'r.{value}' for value in values)}, r.{keys[0]} IS NOT NULL AS rebuilt"
        f" FROM {rebuilt} r FULL JOIN (SELECT {', '.join(keys + values)} FROM {table}"
        f" WHERE company_id = %(company)s) t ON {same_key}"
        f" WHERE ({kept}, 0) IS DISTINCT FROM ({fresh}, 0)"
        f" AND NOT (r.{keys[0]} IS NULL AND ({kept}, 0) = ({zeros}, 0))",
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
        columns = ", ".join(keys + values)
        cursor.execute(
            f"INSERT INTO {table} (company_id, {columns}, created_at, updated_at)"  # noqa: S608
            f" SELECT %(company)s, {columns}, %(now)s, %(now)s FROM differences WHERE NOT present"
            f" ORDER BY {', '.join(keys)}",
            params,
        )
    cursor.execute("DROP TABLE differences")
    return changed


_REBUILT_BOARDS = """
    INSERT INTO ratings_ratingboard (company_id, period, start, people, created_at, updated_at)
    SELECT %(company)s, period, start, COUNT(*), %(now)s, %(now)s
    FROM rebuilt_rating WHERE points > 0
    GROUP BY period, start
"""


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
            cursor.execute(_REBUILT_DAILY, params)
            cursor.execute("ANALYZE rebuilt_daily")
            counting = Kpi.objects.counting_in_rating().order_by().values("id").query
            counting_sql, counting_params = counting.sql_with_params()
            cursor.execute(_REBUILT_RATING.format(counting=counting_sql), counting_params)
            cursor.execute("ANALYZE rebuilt_rating")
            cursor.execute(_REBUILT_COMPANY, params)
            cursor.execute(_REBUILT_DEPARTMENT, params)
            for table, keys, values, rebuilt in _REBUILT:
                corrected += _write_differences(cursor, table, keys, values, rebuilt, params)
            RatingBoard.objects.all().delete()  # a few hundred rows
            cursor.execute(_REBUILT_BOARDS, params)
            cursor.execute(
                "SELECT (SELECT COUNT(*) FROM rebuilt_daily), (SELECT COUNT(*) FROM rebuilt_rating)"
            )
            daily, rating = cursor.fetchone()
            # Not left to ON COMMIT: a caller's transaction may rebuild several companies.
            cursor.execute("DROP TABLE rebuilt_daily, rebuilt_rating, rebuilt_company, rebuilt_department")
        return RebuildResult(daily=daily, rating=rating, corrected=corrected)
    before = _aggregate_rows()
    DailyTotal.objects.all().delete()
    CompanyDailyTotal.objects.all().delete()
    DepartmentDailyTotal.objects.all().delete()
    RatingTotal.objects.all().delete()
    RatingBoard.objects.all().delete()
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
        )
    aggregates_apply(change)
    after = _aggregate_rows()
    corrected = sum(before.get(key) != after.get(key) for key in before.keys() | after.keys())
    return RebuildResult(daily=len(change.daily), rating=len(change.rating), corrected=corrected)


def _aggregate_rows() -> dict[tuple, tuple]:
    """Every aggregate row with an amount, by key (the portable rebuild compares before and after)."""
    daily = DailyTotal.objects.values_list("member_id", "kpi_id", "day", "value", "points", "actions")
    rating = RatingTotal.objects.values_list("period", "start", "member_id", "points")
    rows = {("daily", *row[:3]): row[3:] for row in daily if any(row[3:])}
    rows.update({("rating", *row[:3]): row[3:] for row in rating if row[3]})
    company = CompanyDailyTotal.objects.values_list("kpi_id", "day", "value", "points", "actions")
    rows.update({("company", *row[:2]): row[2:] for row in company if any(row[2:])})
    department = DepartmentDailyTotal.objects.values_list(
        "department_id", "kpi_id", "day", "value", "points", "actions"
    )
    rows.update({("department", *row[:3]): row[3:] for row in department if any(row[3:])})
    return rows
