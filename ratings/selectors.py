"""Reads of actions and ratings: the leaderboard (R6, R7) from the aggregates.

A leaderboard lists the people with more than zero points in the period, by points (ties share a
rank: 1, 2, 2, 4; within a tie by user id), a page of them, and the viewer's own position. The
company's board of a fixed period reads ``RatingTotal`` (an index range scan for the page, one
index-only pass for the counts); a unit's board its people's rows; an arbitrary date range the
rating totals of the whole periods inside it and ``DailyTotal`` for the days at its edges.
"""

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import BooleanField, Count, F, Func, Q, QuerySet, Subquery

from kpi_platform.decimals import CENT
from kpi_platform.ids import parse_id
from kpis.models import Aggregation, Kpi
from orgs import access
from orgs.models import Member
from ratings.models import DailyTotal, KpiAction, RatingBoard, RatingPeriod, RatingTotal
from ratings.periods import period_end, period_start

ONE_DAY = datetime.timedelta(days=1)
RANKING_WORK_MEM = "64MB"


@dataclass(frozen=True)
class Scope:
    """The company (``kind`` "company"), a department or a team (``org_unit_id``)."""

    kind: str = "company"
    org_unit_id: int | None = None

    def __str__(self) -> str:
        return self.kind if self.org_unit_id is None else f"{self.kind}:{self.org_unit_id}"

    def members_condition(self, prefix: str = "member__") -> Q:
        if self.kind == "department":
            return Q(**{f"{prefix}department_id": self.org_unit_id})
        if self.kind == "team":
            return Q(**{f"{prefix}team_id": self.org_unit_id})
        return Q()

    def contains(self, member: Member) -> bool:
        if self.kind == "department":
            return member.department_id == self.org_unit_id
        if self.kind == "team":
            return member.team_id == self.org_unit_id
        return True


@dataclass
class Row:
    rank: int
    member_id: int
    points: Decimal
    member: Member | None = None


@dataclass
class Leaderboard:
    start: datetime.date | None
    end: datetime.date | None
    scope: Scope
    count: int
    rows: list[Row] = field(default_factory=list)
    me: Row | None = None


def _ranked(pairs: list[tuple[int, Decimal]], *, offset: int = 0, first_rank: int = 1) -> list[Row]:
    """Competition ranks (1, 2, 2, 4) for a page already in order that starts at ``offset``,
    given the rank of its first row (lower than ``offset + 1`` when a tie spans the page's start)."""
    rows, rank = [], first_rank
    for position, (member_id, points) in enumerate(pairs):
        if position and points != pairs[position - 1][1]:
            rank = offset + position + 1
        rows.append(Row(rank=rank, member_id=member_id, points=points))
    return rows


# One transaction for a board's few statements (a request has one already): outside one, each
# statement would be wrapped in its own, with the company's setting applied each time (orgs.database).
@transaction.atomic(savepoint=False)
def leaderboard(
    *,
    period: str,
    day: datetime.date,
    scope: Scope = Scope(),
    limit: int = 50,
    offset: int = 0,
    viewer: Member | None = None,
) -> Leaderboard:
    """The leaderboard of the ``period`` (week, month, quarter, year, all) that contains ``day``."""
    start = period_start(period, day)
    shown = {"start": None if period == RatingPeriod.ALL else start, "end": period_end(period, start)}
    if scope.kind != "company":
        # A unit's board reads its people's rows through the unique index (a few thousand
        # lookups) instead of the company's whole period (100,000 rows) joined to the people.
        sums = (
            RatingTotal.objects.filter(period=period, start=start, points__gt=0)
            .filter(_of_scope(scope))
            .values_list("member_id", "points")
        )
        return _board_of(list(sums), scope=scope, limit=limit, offset=offset, viewer=viewer, **shown)
    totals = RatingTotal.objects.filter(period=period, start=start, cents__gt=0)
    page = list(
        totals.order_by("-cents", "member_id").values_list("member_id", "points")[offset : offset + limit]
    )
    size = (
        RatingBoard.objects.filter(period=period, start=start).values_list("people", flat=True).first() or 0
    )
    board = Leaderboard(scope=scope, count=size, **shown)
    first_rank = _ahead(totals, page[0][1], size) + 1 if page and offset else offset + 1
    board.rows = _ranked(page, offset=offset, first_rank=first_rank)
    if viewer is not None:
        mine = (
            RatingTotal.objects.filter(period=period, start=start, member_id=viewer.user_id)
            .values_list("points", flat=True)
            .first()
        ) or Decimal("0.00")
        board.me = Row(rank=_ahead(totals, mine, size) + 1, member_id=viewer.user_id, points=mine)
    _attach_members(board)
    return board


def _ahead(totals: QuerySet[RatingTotal], points: Decimal, size: int) -> int:
    """How many people of the board have more than ``points``: an index-only scan of the entries
    ahead only (counting ``member_id``, a column of the index, not the row's id), so the top of the
    board counts a few rows, and nobody's points means the whole board without counting."""
    if points <= 0:
        return size
    cents = int(points * 100)  # two decimals: exact
    return totals.filter(cents__gt=cents).aggregate(ahead=Count("member_id"))["ahead"]


@transaction.atomic(savepoint=False)
def leaderboard_range(
    *,
    start: datetime.date,
    end: datetime.date,
    scope: Scope = Scope(),
    limit: int = 50,
    offset: int = 0,
    viewer: Member | None = None,
) -> Leaderboard:
    """The leaderboard of any date range (inclusive), for the KPIs that count now.

    The range is covered by the largest whole periods inside it (their rating totals) and the days
    left at its edges (the daily totals of the counting KPIs): 45 days read about five weekly rows
    and ten daily rows per person, not 45 days of daily rows (bench/ratings_leaderboard.py).
    """
    parts = rating_parts(start, end)
    if scope.kind != "company":
        parts = [part.filter(_of_scope(scope)) for part in parts]
    rows, size = _ranked_sums(
        [part.values_list("member_id", "points") for part in parts],
        limit=limit,
        offset=offset,
        viewer_id=viewer.user_id if viewer is not None and scope.contains(viewer) else None,
    )
    board = Leaderboard(start=start, end=end, scope=scope, count=size)
    for row in rows:
        if viewer is not None and row.member_id == viewer.user_id:
            board.me = Row(rank=row.rank, member_id=row.member_id, points=row.points)
        if offset < row.position <= offset + limit:
            board.rows.append(Row(rank=row.rank, member_id=row.member_id, points=row.points))
    if board.me is None and viewer is not None and scope.contains(viewer):
        board.me = Row(rank=size + 1, member_id=viewer.user_id, points=Decimal("0.00"))
    _attach_members(board)
    return board


def rating_parts(start: datetime.date, end: datetime.date) -> list[QuerySet]:
    """Rows (``member_id``, ``points``) whose sums per person are the ratings of ``start``..``end``
    (R6): the rating totals of the whole periods inside it and the counting KPIs' daily totals of
    the days at its edges; a calendar period is its own rating totals alone."""
    periods, days = range_cover(start, end)
    starts: dict[str, list[datetime.date]] = {}
    for kind, first in periods:
        starts.setdefault(kind, []).append(first)
    parts = []
    for kind, firsts in starts.items():
        # One part per kind of period, not per period: a range of centuries (issue 17) would be a
        # union of a thousand years, more than SQLite takes. Each an index scan of ``rating_total_rank``.
        parts.append(RatingTotal.objects.filter(period=kind, start__in=firsts, points__gt=0))
    if days:
        counting = Kpi.objects.counting_in_rating()
        parts.append(DailyTotal.objects.filter(day__in=days, kpi__in=counting.values("id")))
    return parts


def ratings_of(member_ids: list[int], start: datetime.date, end: datetime.date) -> dict[int, Decimal]:
    """The ratings (R6) of some people for ``start``..``end``, as their leaderboard shows them (one
    query per kind of part, a few rows each)."""
    ratings = dict.fromkeys(member_ids, Decimal("0.00"))
    for part in rating_parts(start, end):
        for member_id, points in part.filter(member_id__in=member_ids).values_list("member_id", "points"):
            ratings[member_id] += points
    return {member_id: points.quantize(CENT) for member_id, points in ratings.items()}


def range_cover(start: datetime.date, end: datetime.date) -> tuple[list[tuple[str, datetime.date]], list]:
    """The whole years, quarters, months and ISO weeks inside ``start``..``end`` (largest first),
    and the days left over, which together cover every day of the range exactly once."""
    return _cover(
        start, end, (RatingPeriod.YEAR, RatingPeriod.QUARTER, RatingPeriod.MONTH, RatingPeriod.WEEK)
    )


def _cover(start: datetime.date, end: datetime.date, kinds: tuple) -> tuple[list, list]:
    if start > end:
        return [], []
    if not kinds:
        return [], [start + datetime.timedelta(days=n) for n in range((end - start).days + 1)]
    kind, smaller = kinds[0], kinds[1:]
    first = period_start(kind, start)
    if first < start:
        first = period_end(kind, first) + ONE_DAY
    whole, cursor = [], first
    while period_end(kind, cursor) <= end:
        whole.append((kind, cursor))
        cursor = period_end(kind, cursor) + ONE_DAY
    if not whole:
        return _cover(start, end, smaller)
    before_periods, before_days = _cover(start, first - ONE_DAY, smaller)
    after_periods, after_days = _cover(cursor, end, smaller)
    return before_periods + whole + after_periods, before_days + after_days


@dataclass(frozen=True)
class _RankedSum:
    member_id: int
    points: Decimal
    rank: int
    position: int


# Each person's sum over the parts, ranked by the database (competition ranks; positions by
# points, then user id): only the page's rows and the viewer's come back, with the board's size.
_RANKED_SUMS = """
    WITH sums AS (
        SELECT parts.member_id, SUM(parts.points) AS total FROM ({union}) AS parts
        GROUP BY parts.member_id HAVING SUM(parts.points) > 0
    ), ranked AS (
        SELECT member_id, total, RANK() OVER (ORDER BY total DESC) AS rank,
            ROW_NUMBER() OVER (ORDER BY total DESC, member_id) AS position
        FROM sums
    )
    SELECT member_id, total, rank, position, NULL FROM ranked
    WHERE (position > %s AND position <= %s) OR member_id = %s
    UNION ALL SELECT NULL, NULL, NULL, NULL, COUNT(*) FROM sums
"""


def _ranked_sums(
    parts: list[QuerySet], *, limit: int, offset: int, viewer_id: int | None
) -> tuple[list[_RankedSum], int]:
    """The page and the viewer's row of the board summed from ``parts`` (querysets of
    ``(member_id, points)``, scoped to the company by their managers), and the board's size."""
    if not parts:
        return [], 0
    compiled = [part.query.sql_with_params() for part in parts]
    # Only the querysets' own SQL is joined in; every value is a parameter.
    union = " UNION ALL ".join(f"SELECT * FROM ({sql}) AS part{n}" for n, (sql, _p) in enumerate(compiled))  # noqa: S608
    params = [param for _sql, part_params in compiled for param in part_params]
    params += [offset, offset + limit, viewer_id]
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # A hundred thousand sums are grouped and sorted twice: in memory, not in temp files.
            cursor.execute("SELECT set_config('work_mem', %s, true)", [RANKING_WORK_MEM])
        cursor.execute(_RANKED_SUMS.format(union=union), params)
        fetched = cursor.fetchall()
    size = next(row[4] for row in fetched if row[0] is None)
    # SQLite sums its decimals as floats: back to cents (PostgreSQL's numeric is exact already).
    rows = [
        _RankedSum(member_id, Decimal(total).quantize(CENT), rank, position)
        for member_id, total, rank, position, _size in fetched
        if member_id is not None
    ]
    return rows, size


# A unit's people in the order of one figure per person (a dashboard's breakdown by person, issue
# 16): those with a figure first, best first, then those without; ties by user id. The figures are
# summed by the database from the rows of one KPI (or the ratings' parts) and joined to the people,
# and only one page of ids comes back: a company of 100,000 people is one query, not 100,000 rows.
_PEOPLE_IN_ORDER = """
    SELECT person.user_id FROM ({people}) AS person
    LEFT JOIN ({figures}) AS per ON per.member_id = person.user_id
    ORDER BY CASE WHEN {value} IS NULL THEN 1 ELSE 0 END, {value} {direction}, person.user_id
    LIMIT %s OFFSET %s
"""
# The first of those who have a figure that is not null (an average, a lowest or a highest value),
# in the same order, from the figures alone: the people are not read at all.
_FIGURES_IN_ORDER = """
    SELECT per.member_id FROM ({figures}) AS per WHERE per.figure IS NOT NULL
    ORDER BY per.figure {direction}, per.member_id LIMIT %s
"""
_FIGURES = "SELECT parts.member_id, {figure} AS figure FROM ({union}) AS parts GROUP BY parts.member_id"
# Each figure of the day rows' columns (K11: an average is its sums' quotient, exact at any level).
FIGURE_SQL = {
    "sum": "SUM(parts.value)",
    "count": "SUM(parts.actions)",
    "average": "SUM(parts.value) / NULLIF(SUM(parts.actions), 0)",
    "min": "MIN(parts.low)",
    "max": "MAX(parts.high)",
    "points": "SUM(parts.points)",
}
# Figures that someone with no rows has as 0, the quantities (the others: none, and last).
ZERO_WHEN_NONE = ("points", *(aggregation.value for aggregation in Aggregation if aggregation.is_quantity))
# How many more of those with a figure are read than the page needs, for those of them who are not
# among the people (deactivated); when still short, four times as many, up to the most ids checked
# in one list; past that the page is ordered with the people joined.
_SPARE = 16
_MOST_CHECKED = 900


def people_in_order(
    people: QuerySet, parts: list[QuerySet], figure: str, *, descending: bool, limit: int, offset: int
) -> list[int]:
    """One page of the user ids of ``people`` (a ``Member`` queryset), ordered by ``figure`` (a key
    of FIGURE_SQL) of their rows in ``parts`` (querysets of day rows or rating parts with the
    columns the figure reads): best first, no figure last; a sum, a count and points are 0 for
    someone with no rows, as the rows show them.

    A figure that is none for someone with no rows puts everyone who has one first, so a page
    among them is read from the figures alone, and the few ids on it checked against ``people``:
    at 100,000 people that skips joining and sorting them all (bench: 100 ms to 45). The people
    are counted apart (``people.count()``), through the index of deactivated accounts."""
    compiled = [part.order_by().query.sql_with_params() for part in parts]
    # Only the querysets' own SQL and the constant expressions above are joined in; values are
    # parameters.
    union = " UNION ALL ".join(f"SELECT * FROM ({sql}) AS part{n}" for n, (sql, _p) in enumerate(compiled))  # noqa: S608
    figures_sql = _FIGURES.format(figure=FIGURE_SQL[figure], union=union)
    figures_params = [param for _sql, part_params in compiled for param in part_params]
    direction = "DESC" if descending else "ASC"
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT set_config('work_mem', %s, true)", [RANKING_WORK_MEM])
            # A parallel plan would sum the KPI's rows once in each process (the sums are joined
            # by a hash that is not shared): twice the work for no gain on two cores.
            cursor.execute("SELECT set_config('max_parallel_workers_per_gather', '0', true)")
        if figure not in ZERO_WHEN_NONE:
            reach, asked = offset + limit, offset + limit + _SPARE
            while asked <= _MOST_CHECKED:
                cursor.execute(
                    _FIGURES_IN_ORDER.format(figures=figures_sql, direction=direction),
                    [*figures_params, asked],
                )
                ids = [row[0] for row in cursor.fetchall()]
                present = set(people.filter(user_id__in=ids).values_list("user_id", flat=True))
                ordered = [member_id for member_id in ids if member_id in present]
                if len(ordered) >= reach:
                    return ordered[offset:reach]
                if len(ids) < asked:
                    break  # everyone with a figure is read: the page reaches those without one
                asked *= 4
        people_sql, people_params = people.order_by().values("user_id").query.sql_with_params()
        sql = _PEOPLE_IN_ORDER.format(
            people=people_sql,
            figures=figures_sql,
            value="COALESCE(per.figure, 0)" if figure in ZERO_WHEN_NONE else "per.figure",
            direction=direction,
        )
        cursor.execute(sql, [*people_params, *figures_params, limit, offset])
        return [row[0] for row in cursor.fetchall()]


# A unit's people in the order of their rating in one calendar period (a dashboard's breakdown by
# person, by points): those with points, read down the period's rank index (``rating_total_rank``)
# and stopped at the page, then those without, by user id, each checked against the period's key;
# a page of a company of 100,000 people reads some hundred rows, not the period's every row summed
# and sorted (``people_in_order``, which orders the same: most points first, ties and those
# without by user id).
_PEOPLE_BY_RATING = """
    SELECT user_id FROM (
        SELECT * FROM (
            SELECT rated.member_id AS user_id, 0 AS later, rated.cents AS cents FROM ({rated}) AS rated
            WHERE rated.member_id IN (SELECT person.user_id FROM ({people}) AS person)
            ORDER BY rated.cents DESC, rated.member_id LIMIT %s
        ) AS first
        UNION ALL
        SELECT * FROM (
            SELECT person.user_id AS user_id, 1 AS later, 0 AS cents FROM ({people}) AS person
            WHERE NOT EXISTS (SELECT 1 FROM ({rated}) AS rated WHERE rated.member_id = person.user_id)
            ORDER BY person.user_id LIMIT %s
        ) AS rest
    ) AS ordered
    ORDER BY later, cents DESC, user_id LIMIT %s OFFSET %s
"""


def people_by_rating(
    people: QuerySet, period: str, start: datetime.date, *, limit: int, offset: int
) -> list[int]:
    """``people_in_order`` by points in a calendar period (R6), from the period's rating totals:
    one page of ``people``'s user ids, most points first."""
    rated = RatingTotal.objects.filter(period=period, start=start, cents__gt=0).values("member_id", "cents")
    rated_sql, rated_params = rated.query.sql_with_params()
    people_sql, people_params = people.order_by().values("user_id").query.sql_with_params()
    # Only the querysets' own SQL is joined in; values are parameters.
    sql = _PEOPLE_BY_RATING.format(rated=rated_sql, people=people_sql)
    reach = offset + limit
    params = [*rated_params, *people_params, reach, *people_params, *rated_params, reach, limit, offset]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


class _AnyOf(Func):
    """``expression IN (subquery)``, written ``= ANY(ARRAY(subquery))`` on PostgreSQL: the planner
    cannot tell how many ids the array holds, so it looks each one up in the index, where for a
    list of 2,000 ids it would scan the period's 100,000 rows and filter them."""

    arg_joiner = " = ANY(ARRAY("
    template = "%(expressions)s))"
    output_field = BooleanField()

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, arg_joiner=" IN ", template="%(expressions)s", **extra)


def _of_scope(scope: Scope) -> _AnyOf:
    """Rows (``member_id``) of the unit's people."""
    people = Member.objects.filter(scope.members_condition(prefix="")).values("pk")
    return _AnyOf(F("member_id"), Subquery(people))


def _board_of(
    sums: list[tuple[int, Decimal]],
    *,
    start: datetime.date | None,
    end: datetime.date | None,
    scope: Scope,
    limit: int,
    offset: int,
    viewer: Member | None,
) -> Leaderboard:
    """A board ranked in memory from every person's sum: for units and ranges, whose sums the
    database has to compute or fetch in full anyway."""
    sums.sort(key=lambda pair: (-pair[1], pair[0]))
    ranked = _ranked(sums)
    board = Leaderboard(
        start=start, end=end, scope=scope, count=len(ranked), rows=ranked[offset : offset + limit]
    )
    if viewer is not None and scope.contains(viewer):
        mine = next((row for row in ranked if row.member_id == viewer.user_id), None)
        if mine is None:
            mine = Row(rank=len(ranked) + 1, member_id=viewer.user_id, points=Decimal("0.00"))
        board.me = Row(rank=mine.rank, member_id=mine.member_id, points=mine.points)
    _attach_members(board)
    return board


def _attach_members(board: Leaderboard) -> None:
    rows = board.rows + ([board.me] if board.me else [])
    members = Member.objects.select_related("user").in_bulk([row.member_id for row in rows])
    for row in rows:
        row.member = members.get(row.member_id)


def action_list(*, filters: dict | None = None, viewer: Member | None = None) -> QuerySet[KpiAction]:
    """Actions, newest first, of the people ``viewer`` sees (O4; None: a token, the whole company).

    ``filters`` (each optional): ``kpi``, a KPI's integration name or id; ``user``, a person's
    e-mail, external id or id; ``from`` and ``to``, moments (``occurred_at`` >= from, < to);
    ``source``.
    """
    filters = filters or {}
    actions = KpiAction.objects.select_related("kpi", "member__user").order_by("-occurred_at", "-id")
    if viewer is not None and not access.is_company_admin(viewer):
        actions = actions.filter(member_id__in=access.visible_members(viewer).values("user_id"))
    if "kpi" in filters:
        key = filters["kpi"].strip()
        condition = Q(kpi__integration_name__iexact=key)
        if (kpi_id := parse_id(key)) is not None:
            condition |= Q(kpi_id=kpi_id)
        actions = actions.filter(condition)
    if "user" in filters:
        key = filters["user"].strip()
        condition = Q(member__user__email__iexact=key) | Q(member__external_id=key)
        if (member_id := parse_id(key)) is not None:
            condition |= Q(member_id=member_id)
        actions = actions.filter(condition)
    if "from" in filters:
        actions = actions.filter(occurred_at__gte=filters["from"])
    if "to" in filters:
        actions = actions.filter(occurred_at__lt=filters["to"])
    if "source" in filters:
        actions = actions.filter(source=filters["source"])
    return actions
