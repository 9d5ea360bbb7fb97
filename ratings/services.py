"""Recording KPI actions: the one way in (R3) for the admin, the activity logger, the API and
imports, and the upkeep of the rating aggregates.

``actions_record`` takes a batch of plain items (as the API receives them), validates every item
against the rules of R1 and K5/K8, computes points (R2), applies idempotency (R4), and writes the
batch and its aggregate changes in one transaction, all or nothing. It works on whole batches:
a handful of queries per batch whatever its size, and on PostgreSQL one ``INSERT … SELECT FROM
unnest(…) ON CONFLICT DO NOTHING`` for the actions and one ordered upsert per aggregate. The
conflict clause is what makes two concurrent batches with the same external ids safe: the second
waits for the first to commit, inserts nothing for those ids, and reports them as duplicates (or
refuses a changed one as a conflict) instead of counting twice or failing with a 500.

A file of many batches (an import) uses the same service as one ``actions_recorder``: every
batch validated and written as above, the people and KPIs read once, and the aggregate changes of
all its batches summed and applied together at the end.
"""

import datetime
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection, transaction
from django.db.models import Sum
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from rest_framework import status

from kpi_platform.decimals import CENT, parse_cents
from kpi_platform.errors import DomainError, DomainErrors
from kpis.models import Kpi, KpiAudience, KpiHide, KpiStatus, Level
from orgs import access
from orgs.models import Company, Member
from orgs.tenancy import company_context, current_company_id
from ratings.errors import RatingErrorCode
from ratings.models import (
    COMMENT_MAX_LENGTH,
    EXTERNAL_ID_MAX_LENGTH,
    ActionSource,
    CompanyDailyTotal,
    DailyTotal,
    DepartmentDailyTotal,
    KpiAction,
    RatingBoard,
    RatingTotal,
    Recalculation,
    RecalculationStatus,
)
from ratings.periods import period_starts

MAX_BATCH = 5000
_ZERO = Decimal(0)
MAX_VALUE = Decimal("999999999999.99")  # max_digits=14
FUTURE_TOLERANCE = datetime.timedelta(days=1)


def compute_points(value: Decimal, *, in_rating: bool, rating_units: Decimal, rating_points: int) -> Decimal:
    """R2: value × M / N, rounded half-up to two decimals; no points outside the rating (K4)."""
    if not in_rating:
        return Decimal("0.00")
    return (value * rating_points / rating_units).quantize(CENT, rounding=ROUND_HALF_UP)


def counts_in_rating(kpi: Kpi) -> bool:
    """R6: only Active KPIs in the rating count."""
    return kpi.status == KpiStatus.ACTIVE and kpi.in_rating and kpi.archived_at is None


# --- Parsing one item --------------------------------------------------------------------------------


def parse_value(value) -> Decimal | None:
    """R1: a decimal ≥ 0 with at most two decimal places."""
    return parse_cents(value, maximum=MAX_VALUE)


def parse_occurred_at(value, *, now: datetime.datetime, tz: zoneinfo.ZoneInfo) -> datetime.datetime | None:
    """ISO 8601; without an offset it is the company's local time. Not more than a day ahead."""
    if value is None:
        return now
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = parse_datetime(value.strip())
        except ValueError:
            return None
        if moment is None:
            return None
    else:
        return None
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=tz)
    if moment > now + FUTURE_TOLERANCE or moment.year < 1971:
        return None
    return moment


@dataclass(slots=True)
class _Item:
    index: int
    kpi_key: str = ""
    user_key: str = ""
    user_id_key: int | None = None
    value: Decimal | None = None
    occurred_at: datetime.datetime | None = None
    timed: bool = False  # the item gave its time (else it is "now", whenever it is sent)
    external_id: str = ""
    comment: str = ""
    kpi: Kpi | None = None
    member: "_Person | None" = None
    points: Decimal | None = None
    day: datetime.date | None = None
    id: int | None = None
    status: str = "created"


@dataclass(frozen=True)
class _Person:
    user_id: int
    department_id: int | None
    team_id: int | None


@dataclass
class RecordResult:
    created: int = 0
    duplicates: int = 0
    results: list[dict] = field(default_factory=list)


def _error(errors: list, code: str, message: str, index: int, field_name: str | None) -> None:
    errors.append(DomainError(code, message, field=field_name, index=index))


def _parse_items(raw_items: list, errors: list, *, now: datetime.datetime, tz) -> list[_Item]:
    items = []
    values: dict = {}  # a batch repeats its values: each distinct text is parsed once
    for index, raw in enumerate(raw_items):
        item = _Item(index=index)
        items.append(item)
        if not isinstance(raw, dict):
            _error(errors, RatingErrorCode.INVALID, _("Each action is an object."), index, None)
            continue
        for name in ("kpi", "user"):
            value = raw.get(name)
            if isinstance(value, Kpi | Member):
                continue
            if not isinstance(value, str) or not value.strip():
                _error(errors, RatingErrorCode.REQUIRED, _("This field is required."), index, name)
        kpi_value, user_value = raw.get("kpi"), raw.get("user")
        # Objects are looked up again like names: scoped, active, locked; never trusted as given.
        if isinstance(kpi_value, Kpi):
            item.kpi_key = kpi_value.integration_name.lower()
        elif isinstance(kpi_value, str):
            item.kpi_key = kpi_value.strip().lower()
        if isinstance(user_value, Member):
            item.user_id_key = user_value.user_id
        elif isinstance(user_value, str):
            item.user_key = user_value.strip()
        if "value" not in raw:
            _error(errors, RatingErrorCode.REQUIRED, _("This field is required."), index, "value")
        else:
            raw_value = raw["value"]
            if type(raw_value) is str:
                if raw_value not in values:
                    values[raw_value] = parse_value(raw_value)
                item.value = values[raw_value]
            else:
                item.value = parse_value(raw_value)
            if item.value is None:
                _error(
                    errors,
                    RatingErrorCode.VALUE_INVALID,
                    _("A value is a number ≥ 0 with at most two decimal places."),
                    index,
                    "value",
                )
        item.timed = raw.get("occurred_at") is not None
        item.occurred_at = parse_occurred_at(raw.get("occurred_at"), now=now, tz=tz)
        if item.occurred_at is None:
            _error(
                errors,
                RatingErrorCode.OCCURRED_AT_INVALID,
                _("Give the time in ISO 8601 (e.g. 2026-11-02T10:00:00+03:00), not more than a day ahead."),
                index,
                "occurred_at",
            )
        external_id = raw.get("external_id")
        if external_id is not None:
            if not isinstance(external_id, str | int) or isinstance(external_id, bool):
                _error(errors, RatingErrorCode.EXTERNAL_ID_INVALID, _("Expected text."), index, "external_id")
            else:
                item.external_id = str(external_id).strip()
                if len(item.external_id) > EXTERNAL_ID_MAX_LENGTH:
                    _error(
                        errors,
                        RatingErrorCode.EXTERNAL_ID_INVALID,
                        _("An external id has at most %(n)d characters.") % {"n": EXTERNAL_ID_MAX_LENGTH},
                        index,
                        "external_id",
                    )
        comment = raw.get("comment")
        if comment is not None:
            if not isinstance(comment, str) or len(comment) > COMMENT_MAX_LENGTH:
                _error(
                    errors,
                    RatingErrorCode.COMMENT_INVALID,
                    _("A comment is text of at most %(n)d characters.") % {"n": COMMENT_MAX_LENGTH},
                    index,
                    "comment",
                )
            else:
                item.comment = comment
    return items


# --- Resolving KPIs and people -----------------------------------------------------------------------


def _load_kpis(keys: set[str]) -> dict[str, Kpi]:
    """The batch's KPIs by lower-cased integration name. On PostgreSQL they are locked ``FOR SHARE``
    so a KPI cannot stop counting in the rating (its aggregates moved out) between our read and
    our aggregate update; concurrent recorders share the lock."""
    if not keys:
        return {}
    kpis = Kpi.objects.annotate(key=Lower("integration_name")).filter(key__in=keys)
    if connection.vendor == "postgresql":
        ids = list(kpis.values_list("id", flat=True))
        _lock_kpis_for_share(ids)
        # Read again: the lock waited for any change in flight, and this read sees its result.
        kpis = Kpi.objects.annotate(key=Lower("integration_name")).filter(id__in=ids)
    return {kpi.key: kpi for kpi in kpis}


def _lock_kpis_for_share(ids: list[int]) -> None:
    """Recorders share the lock; a KPI change that moves the rating aggregates (``UPDATE``) waits
    for them and they for it (PostgreSQL; SQLite serializes writers anyway)."""
    if ids and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM kpis_kpi WHERE id = ANY(%s) ORDER BY id FOR SHARE", [sorted(ids)])


def _load_people(
    keys: set[str], ids: set[int], people
) -> tuple[dict[str, _Person], dict[str, _Person], dict[int, _Person]]:
    """Active ``people`` (those the recorder may record for) by e-mail (lower-cased), by external
    id and by id.

    One query per kind of key, each served by its index (an ``OR`` of the three made PostgreSQL
    join every person of the company to their user: 130 ms for 100,000 people per batch)."""
    columns = ("user_id", "department_id", "team_id", "user__email", "external_id")
    active = people.filter(user__is_active=True).order_by()
    emails = {key.lower() for key in keys if "@" in key}
    rows = []
    if emails:
        rows += active.filter(user__email__in=emails).values_list(*columns)
    if keys:
        # ``external_id <> ''`` lets PostgreSQL prove the partial unique index's condition.
        rows += active.filter(external_id__in=keys).exclude(external_id="").values_list(*columns)
    if ids:
        rows += active.filter(user_id__in=ids).values_list(*columns)
    by_email, by_external_id, by_id = {}, {}, {}
    for user_id, department_id, team_id, email, external_id in rows:
        person = _Person(user_id, department_id, team_id)
        by_id[user_id] = person
        by_email[email.lower()] = person
        if external_id:
            by_external_id[external_id] = person
    return by_email, by_external_id, by_id


@dataclass
class _Reach:
    """What K6/K8 need to decide, in memory, whether a KPI reaches a person."""

    hidden_departments: dict[int, set[int]]
    hidden_teams: dict[int, set[int]]
    audience: dict[int, tuple[set[int], set[int], set[int]]]

    @classmethod
    def load(cls, kpi_ids: Iterable[int]) -> "_Reach":
        kpi_ids = list(kpi_ids)
        hidden_departments, hidden_teams = defaultdict(set), defaultdict(set)
        for kpi_id, department_id, team_id in KpiHide.objects.filter(kpi_id__in=kpi_ids).values_list(
            "kpi_id", "department_id", "team_id"
        ):
            if department_id:
                hidden_departments[kpi_id].add(department_id)
            else:
                hidden_teams[kpi_id].add(team_id)
        audience: dict[int, tuple[set[int], set[int], set[int]]] = {}
        for kpi_id, department_id, team_id, member_id in KpiAudience.objects.filter(
            kpi_id__in=kpi_ids
        ).values_list("kpi_id", "department_id", "team_id", "member_id"):
            departments, teams, members = audience.setdefault(kpi_id, (set(), set(), set()))
            if department_id:
                departments.add(department_id)
            elif team_id:
                teams.add(team_id)
            else:
                members.add(member_id)
        return cls(hidden_departments, hidden_teams, audience)

    def reaches(self, kpi: Kpi, person: _Person) -> bool:
        """The same rule as ``kpis.selectors.member_kpis_condition`` (level, hides, audience)."""
        if kpi.level == Level.DEPARTMENT and person.department_id != kpi.department_id:
            return False
        if kpi.level == Level.TEAM and person.team_id != kpi.team_id:
            return False
        if kpi.level == Level.COMPANY and person.department_id in self.hidden_departments.get(kpi.id, ()):
            return False
        if kpi.level in (Level.COMPANY, Level.DEPARTMENT) and person.team_id in self.hidden_teams.get(
            kpi.id, ()
        ):
            return False
        entries = self.audience.get(kpi.id)
        if entries is None:
            return True
        departments, teams, members = entries
        return (
            person.user_id in members
            or (person.team_id is not None and person.team_id in teams)
            or (person.department_id is not None and person.department_id in departments)
        )


class _Lookups:
    """The KPIs, people and audiences a recorder has met, by the keys its items name: loaded once
    (only the keys not seen before are queried), so a file of many batches reads each person and
    KPI once. The KPIs stay locked ``FOR SHARE`` to the end of the transaction, and the people are
    those of its first read of them: a file is recorded as the company was when it met each key.

    ``people`` are those the recorder may record for (O4): anyone else is unknown to it, exactly
    as someone who does not exist, so an answer never tells who else is in the company."""

    def __init__(self, people):
        self.people = people
        self.kpis: dict[str, Kpi | None] = {}
        self.by_email: dict[str, _Person] = {}
        self.by_external_id: dict[str, _Person] = {}
        self.by_id: dict[int, _Person] = {}
        self.user_keys: set[str] = set()
        self.user_ids: set[int] = set()
        self.reach = _Reach({}, {}, {})
        self.reach_kpis: set[int] = set()

    def load(self, items: list[_Item]) -> None:
        kpi_keys = {item.kpi_key for item in items if item.kpi_key} - self.kpis.keys()
        if kpi_keys:
            loaded = _load_kpis(kpi_keys)
            self.kpis.update({key: loaded.get(key) for key in kpi_keys})
        user_keys = {item.user_key for item in items if item.user_key} - self.user_keys
        user_ids = {item.user_id_key for item in items if item.user_id_key is not None} - self.user_ids
        if user_keys or user_ids:
            by_email, by_external_id, by_id = _load_people(user_keys, user_ids, self.people)
            self.by_email.update(by_email)
            self.by_external_id.update(by_external_id)
            self.by_id.update(by_id)
            self.user_keys |= user_keys
            self.user_ids |= user_ids
        kpi_ids = {kpi.id for kpi in self.kpis.values() if kpi is not None} - self.reach_kpis
        if kpi_ids:
            reach = _Reach.load(kpi_ids)
            self.reach.hidden_departments.update(reach.hidden_departments)
            self.reach.hidden_teams.update(reach.hidden_teams)
            self.reach.audience.update(reach.audience)
            self.reach_kpis |= kpi_ids


def _resolve(items: list[_Item], errors: list, lookups: _Lookups) -> None:
    lookups.load(items)
    kpis, by_id = lookups.kpis, lookups.by_id
    by_email, by_external_id = lookups.by_email, lookups.by_external_id
    for item in items:
        if item.kpi is None and item.kpi_key:
            item.kpi = kpis.get(item.kpi_key)
            if item.kpi is None:
                _error(
                    errors,
                    RatingErrorCode.UNKNOWN_KPI,
                    _("No KPI has the integration name “%(kpi)s”.") % {"kpi": item.kpi_key},
                    item.index,
                    "kpi",
                )
        if item.user_id_key is not None:
            item.member = by_id.get(item.user_id_key)
            if item.member is None:
                _error(
                    errors,
                    RatingErrorCode.UNKNOWN_USER,
                    _("This person is not an active member of the company."),
                    item.index,
                    "user",
                )
        elif item.user_key:
            item.member = by_email.get(item.user_key.lower()) or by_external_id.get(item.user_key)
            if item.member is None:
                _error(
                    errors,
                    RatingErrorCode.UNKNOWN_USER,
                    _("No active person has the e-mail or external id “%(user)s”.") % {"user": item.user_key},
                    item.index,
                    "user",
                )
    reach = lookups.reach
    for item in items:
        if item.kpi is None:
            continue
        if not (item.kpi.status == KpiStatus.ACTIVE and item.kpi.archived_at is None):
            _error(
                errors,
                RatingErrorCode.KPI_INACTIVE,
                _("The KPI “%(kpi)s” is hidden and accepts no actions.") % {"kpi": item.kpi.integration_name},
                item.index,
                "kpi",
            )
        elif item.member is not None and not reach.reaches(item.kpi, item.member):
            _error(
                errors,
                RatingErrorCode.NOT_IN_AUDIENCE,
                _("This person does not receive the KPI “%(kpi)s”.") % {"kpi": item.kpi.integration_name},
                item.index,
                "user",
            )


# --- Idempotency (R4) --------------------------------------------------------------------------------


def _same_content(item: _Item, existing: KpiAction) -> bool:
    """R4: the same person, KPI, value, comment and time. An item that gave no time (it means
    "now") is the same whenever it was recorded: a client retrying it must get a duplicate."""
    return (
        existing.member_id == item.member.user_id
        and existing.kpi_id == item.kpi.id
        and existing.value == item.value
        and (existing.occurred_at == item.occurred_at or not item.timed)
        and existing.comment == item.comment
    )


def _conflict(item: _Item) -> DomainError:
    return DomainError(
        RatingErrorCode.EXTERNAL_ID_CONFLICT,
        _("An action with the external id “%(id)s” exists with different content.")
        % {"id": item.external_id},
        field="external_id",
        index=item.index,
        status_code=status.HTTP_409_CONFLICT,
    )


def _match_in_batch(items: list[_Item], conflicts: list) -> None:
    """An external id repeated in the batch: a duplicate of its first item when the content is the
    same, a conflict otherwise."""
    first_in_batch: dict[str, _Item] = {}
    for item in items:
        if not item.external_id:
            continue
        earlier = first_in_batch.get(item.external_id)
        if earlier is None:
            first_in_batch[item.external_id] = item
            continue
        same = (earlier.member, earlier.kpi.id, earlier.value, earlier.occurred_at, earlier.comment) == (
            item.member,
            item.kpi.id,
            item.value,
            item.occurred_at,
            item.comment,
        )
        if same:
            item.status = "duplicate"
        else:
            conflicts.append(_conflict(item))


def _match_recorded(items: list[_Item], conflicts: list, *, batch_ids: set[int] = frozenset()) -> None:
    """Items whose external id was recorded before (not by this batch: ``batch_ids``) are
    duplicates when their content is the same, conflicts otherwise."""
    # ``exclude(external_id="")`` lets PostgreSQL prove the partial unique index's condition, which
    # it cannot do from an IN list of more than 100 values: 15 ms instead of a 740 ms scan of 10 M
    # actions per batch of 1,000 (bench/ratings_ingest.py).
    recorded = (
        KpiAction.objects.filter(external_id__in=[item.external_id for item in items if item.external_id])
        .exclude(external_id="")
        .only("id", "member_id", "kpi_id", "value", "occurred_at", "comment", "points", "external_id")
    )
    existing = {action.external_id: action for action in recorded if action.id not in batch_ids}
    for item in items:
        action = existing.get(item.external_id) if item.external_id else None
        if action is None:
            continue
        if _same_content(item, action):
            item.status, item.id, item.points = "duplicate", action.id, action.points
        else:
            conflicts.append(_conflict(item))


# --- Writing -----------------------------------------------------------------------------------------


def _array(values: Iterable) -> str:
    """A PostgreSQL array literal of numbers, dates or times (cast by the statement): psycopg sends
    it as one string, where it adapts a list element by element, 3-5 times slower for the
    thousands of values of a batch. ``str`` writes each as PostgreSQL reads it (a time as
    ``2026-11-02 10:00:00+03:00``). Text columns, which would need quoting, stay lists."""
    return "{" + ",".join(map(str, values)) + "}"


def _insert_postgresql(company_id: int, rows: list[_Item], source: str, recorded_by_id, now) -> set[int]:
    """One statement for the whole batch. Ids are drawn first so each item knows its row; the
    conflict clause skips external ids a concurrent batch committed meanwhile (returned: the ids
    that were really inserted)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT array_agg(nextval(pg_get_serial_sequence('ratings_kpiaction', 'id')))"
            " FROM generate_series(1, %s)",
            [len(rows)],
        )
        for item, new_id in zip(rows, cursor.fetchone()[0], strict=True):
            item.id = new_id
        cursor.execute(
            """
            INSERT INTO ratings_kpiaction (id, company_id, member_id, kpi_id, value, points, occurred_at, day,
                source, recorded_by_id, external_id, comment, void_reason, created_at, updated_at)
            SELECT t.id, %s, t.member_id, t.kpi_id, t.value, t.points, t.occurred_at, t.day,
                %s, %s, t.external_id, t.comment, '', %s, %s
            FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::numeric[], %s::numeric[],
                        %s::timestamptz[], %s::date[], %s::text[], %s::text[])
                AS t(id, member_id, kpi_id, value, points, occurred_at, day, external_id, comment)
            ON CONFLICT (company_id, external_id) WHERE NOT (external_id = '') DO NOTHING
            RETURNING id
            """,
            [
                company_id,
                source,
                recorded_by_id,
                now,
                now,
                _array(item.id for item in rows),
                _array(item.member.user_id for item in rows),
                _array(item.kpi.id for item in rows),
                _array(item.value for item in rows),
                _array(item.points for item in rows),
                _array(item.occurred_at for item in rows),
                _array(item.day for item in rows),
                [item.external_id for item in rows],
                [item.comment for item in rows],
            ],
        )
        return {row[0] for row in cursor.fetchall()}


def _insert_portable(rows: list[_Item], source: str, recorded_by_id) -> set[int]:
    # SQLite serializes writers, so nothing can slip in between the check and this insert.
    actions = KpiAction.objects.bulk_create(
        [
            KpiAction(
                member_id=item.member.user_id,
                kpi_id=item.kpi.id,
                value=item.value,
                points=item.points,
                occurred_at=item.occurred_at,
                day=item.day,
                source=source,
                recorded_by_id=recorded_by_id,
                external_id=item.external_id,
                comment=item.comment,
            )
            for item in rows
        ]
    )
    for item, action in zip(rows, actions, strict=True):
        item.id = action.id
    return {action.id for action in actions}


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
        if counts_in_rating(kpi):
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
        if counts_in_rating(kpi):
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
                        _array(key[0] for key, _p in rating),
                        _array(key[1] for key, _p in rating),
                        _array(key[2] for key, _p in rating),
                        _array(points for _k, points in rating),
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
                *(_array(key[position] for key, _amounts in rows) for position in range(len(keys))),
                *(_array(amounts[position] for _key, amounts in rows) for position in range(3)),
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


# Pending daily totals a recorder holds before it writes them (with their rating totals): about
# 40 MB of a worker's memory, and a file of a million rows is written in a handful of upserts.
AGGREGATE_FLUSH_KEYS = 100_000
# The points of each (KPI, value) a recorder has met; files repeat their values.
POINTS_MEMO = 50_000


class ActionsRecorder:
    """Records batches of actions (R1–R4) in one transaction: the service's state between batches.

    Every batch is validated whole and raises ``DomainErrors`` (400, each item's errors by its
    index in the batch) or a 409 for external-id conflicts, recording nothing of that batch; the
    recorder goes on and a caller may add more (an import checks the rest of its file). The KPIs,
    people and audiences are read once per recorder (``_Lookups``), and the aggregate changes of
    all batches are summed in memory and applied together, keys sorted, when the recorder
    finishes (or when ``AGGREGATE_FLUSH_KEYS`` daily totals are pending, to bound memory): a
    person's rating total is rewritten once per file, not once per batch. Use it through
    ``actions_recorder``; ``actions_record`` is one batch of it.

    ``recorded_by`` records for the people they see (O4: a company admin for anyone, a manager or
    a lead for the people of their units); ``None`` (a token, the system) for anyone. Everyone
    else is ``unknown_user`` to them, as if they did not exist.
    """

    def __init__(self, *, source: str, recorded_by: Member | None, now: datetime.datetime | None):
        if source not in ActionSource.values:
            raise ValueError(f"unknown source {source!r}")
        self.company = Company.objects.get(id=current_company_id())
        self.tz = self.company.zone
        self.now = now or timezone.now()
        self.source = source
        self.recorded_by_id = recorded_by.user_id if recorded_by is not None else None
        self._lookups = _Lookups(access.visible_members(recorded_by))
        self._change = AggregateChange()
        self._points: dict[tuple[int, Decimal], Decimal] = {}  # (KPI, value) → points (R2), for a file
        self._batches = 0

    def add(self, items: list) -> RecordResult:
        """Record a batch, all or nothing; its aggregates are applied by ``flush``."""
        if not isinstance(items, list):
            raise DomainError(RatingErrorCode.INVALID, _("Expected an action or a list of actions."))
        tz = self.tz
        errors: list[DomainError] = []
        parsed = _parse_items(items, errors, now=self.now, tz=tz)
        _resolve(parsed, errors, self._lookups)
        if errors:
            raise DomainErrors(sorted(errors, key=lambda error: error.index))

        if len(self._points) > POINTS_MEMO:
            self._points.clear()
        for item in parsed:
            kpi = item.kpi
            points = self._points.get((kpi.id, item.value))
            if points is None:
                points = compute_points(
                    item.value,
                    in_rating=kpi.in_rating,
                    rating_units=kpi.rating_units,
                    rating_points=kpi.rating_points,
                )
                self._points[(kpi.id, item.value)] = points
            item.points = points
            item.day = item.occurred_at.astimezone(tz).date()
        conflicts: list[DomainError] = []
        _match_in_batch(parsed, conflicts)
        if conflicts:  # report the external ids recorded before too, and insert nothing
            _match_recorded(parsed, conflicts)
        else:
            self._insert(parsed, conflicts)
        if conflicts:
            raise DomainErrors(
                sorted(conflicts, key=lambda error: error.index), status_code=status.HTTP_409_CONFLICT
            )
        change = self._change
        self._batches += 1
        # One batch (the API's): its people's departments were read a moment ago and go along to
        # the department totals. A file's are read again when they are applied: someone may have
        # moved meanwhile (``department_totals_follow``).
        change.departments = None
        if self._batches == 1:
            change.departments = {item.member.user_id: item.member.department_id for item in parsed}
        result = RecordResult()
        for item in parsed:
            if item.status == "created":
                result.created += 1
                change.add(
                    member_id=item.member.user_id,
                    kpi=item.kpi,
                    day=item.day,
                    value=item.value,
                    points=item.points,
                    sign=1,
                )
            else:
                result.duplicates += 1
            result.results.append(
                {
                    "index": item.index,
                    "id": item.id,
                    "external_id": item.external_id or None,
                    "points": item.points,
                    "status": item.status,
                }
            )
        if len(change.daily) >= AGGREGATE_FLUSH_KEYS:
            self.flush()
        return result

    def _insert(self, items: list[_Item], conflicts: list) -> None:
        """Insert the new items; those whose external id is recorded already (by an earlier batch,
        or a concurrent one that committed meanwhile) become duplicates, or conflicts, and so do
        the batch's repeats of such an id. With a conflict nothing of the batch stays inserted."""
        new = [item for item in items if item.status == "created"]
        repeats = [item for item in items if item.status == "duplicate"]  # of an earlier item
        if connection.vendor != "postgresql":
            # SQLite serializes writers, so nothing can slip in between the check and the insert.
            _match_recorded(new + repeats, conflicts)
            new = [item for item in new if item.status == "created"]
            if new and not conflicts:
                _insert_portable(new, self.source, self.recorded_by_id)
            return
        # PostgreSQL: insert first and look only at the rows the conflict clause skipped, instead
        # of looking every external id up before (one index probe per row, 1 M for a large file).
        inserted = set()
        if new:
            inserted = _insert_postgresql(self.company.id, new, self.source, self.recorded_by_id, self.now)
        skipped = [item for item in new if item.id not in inserted]
        for item in skipped:
            item.status, item.id = "duplicate", None
        if skipped or repeats:
            _match_recorded(skipped + repeats, conflicts, batch_ids=inserted)
        if conflicts and inserted:
            # Taken back by hand rather than by a savepoint per batch: a file of a hundred batches
            # would open a hundred subtransactions, more than the 64 a PostgreSQL backend keeps in
            # memory, and every other session's snapshot would then look them up on disk.
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM ratings_kpiaction WHERE id = ANY(%s)", [sorted(inserted)])

    def flush(self) -> None:
        """Apply the pending aggregate changes (``aggregates_apply``: one sorted upsert per table)."""
        if self._change.daily:
            aggregates_apply(self._change)
        self._change = AggregateChange()


@contextmanager
def actions_recorder(
    *, source: str = ActionSource.API, recorded_by: Member | None = None, now: datetime.datetime | None = None
) -> Iterator[ActionsRecorder]:
    """One transaction of recording: ``with actions_recorder(...) as recorder: recorder.add(items)``.
    On a normal exit the aggregates are applied; an exception rolls every batch back."""
    with transaction.atomic():
        recorder = ActionsRecorder(source=source, recorded_by=recorded_by, now=now)
        yield recorder
        recorder.flush()


def actions_record(
    *,
    items: list,
    source: str = ActionSource.API,
    recorded_by: Member | None = None,
    now: datetime.datetime | None = None,
) -> RecordResult:
    """Record a batch of actions (R1–R4), all or nothing: one batch of an ``ActionsRecorder``.

    Each item is a dict ``{"kpi", "user", "value", "occurred_at", "external_id", "comment"}``:
    ``kpi`` an integration name (or a ``Kpi``), ``user`` an e-mail or a person's external id (or a
    ``Member``). Invalid items raise ``DomainErrors`` with every item's errors (``index``); an
    external id recorded with other content raises ``external_id_conflict`` (409).
    """
    if source not in ActionSource.values:
        raise ValueError(f"unknown source {source!r}")
    if not isinstance(items, list):
        raise DomainError(RatingErrorCode.INVALID, _("Expected an action or a list of actions."))
    if len(items) > MAX_BATCH:
        raise DomainError(
            RatingErrorCode.BATCH_TOO_LARGE,
            _("A batch has at most %(n)d actions.") % {"n": MAX_BATCH},
            status_code=status.HTTP_400_BAD_REQUEST,
        )
    with actions_recorder(source=source, recorded_by=recorded_by, now=now) as recorder:
        return recorder.add(items)


# --- Voiding (R5) ------------------------------------------------------------------------------------


@transaction.atomic
def action_void(*, action: KpiAction, reason: str, voided_by: Member | None = None) -> KpiAction:
    """Void a wrong action: it stays, marked with who, when and why, and stops counting."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(RatingErrorCode.REQUIRED, _("Say why the action is voided."), field="reason")
    locked = KpiAction.objects.select_for_update().get(id=action.id)
    _lock_kpis_for_share([locked.kpi_id])
    locked.kpi = Kpi.objects.get(id=locked.kpi_id)
    if locked.voided_at is not None:
        raise DomainError(RatingErrorCode.ALREADY_VOIDED, _("This action is already voided."))
    locked.voided_at, locked.voided_by, locked.void_reason = timezone.now(), voided_by, reason
    locked.save(update_fields=["voided_at", "voided_by", "void_reason", "updated_at"])
    change = AggregateChange()
    change.add(
        member_id=locked.member_id,
        kpi=locked.kpi,
        day=locked.day,
        value=locked.value,
        points=locked.points,
        sign=-1,
    )
    aggregates_apply(change)
    return locked


# --- When a KPI starts or stops counting (R6) -------------------------------------------------------


def kpi_rating_state_changed(*, kpi: Kpi, counted_before: bool) -> None:
    """A KPI became Active and in the rating, or stopped being so: move its points into or out of
    the rating totals, in the transaction of the change (a kpis hook). Its rows are locked by the
    change's ``UPDATE``, so no recorder adds to it meanwhile."""
    counts_now = counts_in_rating(kpi)
    if counts_now == counted_before:
        return
    sign = 1 if counts_now else -1
    change = AggregateChange()
    sums = (
        DailyTotal.objects.filter(kpi_id=kpi.id)
        .values_list("member_id", "day", "points")
        .iterator(chunk_size=5000)
    )
    for member_id, day, points in sums:
        if points:
            for period, start in period_starts(day):
                key = (period, start, member_id)
                change.rating[key] = change.rating.get(key, Decimal(0)) + sign * points
    aggregates_apply(change)


# --- Recalculation (R2) ------------------------------------------------------------------------------


RECALCULATION_CHUNK = 2000


def kpi_points_recalculate(
    *,
    kpi: Kpi,
    actor=None,
    chunk_size: int = RECALCULATION_CHUNK,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Recompute the points of every action of ``kpi`` with its current ratio (R2), and the
    aggregates with them. Returns how many actions changed. Recorded in the KPI's history (K10).

    Works through the actions in chunks by id, each in its own transaction that changes the
    points and the aggregates together, so the aggregates equal a rebuild after every commit and a
    large KPI holds no long transaction. ``progress(done, total)`` is called after each chunk
    (``total`` may grow while actions are recorded; they already carry the current ratio).
    """
    from kpis.history import history_record
    from kpis.models import ChangeAction

    total = KpiAction.objects.filter(kpi_id=kpi.id).count()
    if progress is not None:
        progress(0, total)
    done, changed_count, last_id = 0, 0, 0
    while True:
        with transaction.atomic():
            # Rows first, then the KPI: the order ``action_void`` locks in, so the two cannot deadlock.
            actions = list(
                KpiAction.objects.select_for_update()
                .filter(kpi_id=kpi.id, id__gt=last_id)
                .order_by("id")
                .only("id", "member_id", "day", "value", "points", "voided_at")[:chunk_size]
            )
            if not actions:
                break
            _lock_kpis_for_share([kpi.id])
            kpi = Kpi.objects.get(id=kpi.id)
            change = AggregateChange()
            changed = []
            for action in actions:
                points = compute_points(
                    action.value,
                    in_rating=kpi.in_rating,
                    rating_units=kpi.rating_units,
                    rating_points=kpi.rating_points,
                )
                if points == action.points:
                    continue
                if action.voided_at is None:
                    change.add_points(
                        member_id=action.member_id, kpi=kpi, day=action.day, delta=points - action.points
                    )
                action.points = points
                changed.append(action)
            KpiAction.objects.bulk_update(changed, ["points"], batch_size=2000)
            aggregates_apply(change)
        last_id = actions[-1].id
        done += len(actions)
        changed_count += len(changed)
        if progress is not None:
            progress(done, max(total, done))
    kpi = Kpi.objects.get(id=kpi.id)
    history_record(
        obj=kpi,
        action=ChangeAction.RECALCULATED,
        actor=actor,
        changes={"ratio": f"{kpi.rating_units} = {kpi.rating_points}", "actions": changed_count},
    )
    return changed_count


@transaction.atomic
def recalculation_start(*, kpi: Kpi, actor: Member | None) -> Recalculation:
    """Queue a recalculation of ``kpi``'s points (R2); a worker runs it (``recalculation_run``)."""
    from ratings.tasks import kpi_points_recalculate as kpi_points_recalculate_task

    recalculation = Recalculation.objects.create(kpi=kpi, requested_by=actor)
    company_id = current_company_id()

    def enqueue() -> None:
        # on_commit may run after the caller's context ended (an outer transaction's commit).
        with company_context(company_id):
            kpi_points_recalculate_task.delay(recalculation_id=recalculation.id)

    transaction.on_commit(enqueue)
    return recalculation


def recalculation_run(*, recalculation: Recalculation) -> Recalculation:
    """Run a queued recalculation, saving its progress as it goes (each save commits on its own,
    so whoever polls sees it). A message delivered again after a worker died runs it again from
    the start, which is safe: points already recalculated do not change twice."""
    if recalculation.status in (RecalculationStatus.SUCCEEDED, RecalculationStatus.FAILED):
        return recalculation
    recalculation.status, recalculation.started_at = RecalculationStatus.RUNNING, timezone.now()
    recalculation.done = 0
    recalculation.save(update_fields=["status", "started_at", "done", "updated_at"])

    def progress(done: int, total: int) -> None:
        recalculation.done, recalculation.total = done, total
        recalculation.save(update_fields=["done", "total", "updated_at"])

    try:
        kpi_points_recalculate(kpi=recalculation.kpi, actor=recalculation.requested_by, progress=progress)
    except Exception as exc:
        recalculation.status, recalculation.error = RecalculationStatus.FAILED, str(exc)[:2000]
        recalculation.finished_at = timezone.now()
        recalculation.save(update_fields=["status", "error", "finished_at", "updated_at"])
        raise
    recalculation.status, recalculation.finished_at = RecalculationStatus.SUCCEEDED, timezone.now()
    recalculation.save(update_fields=["status", "finished_at", "updated_at"])
    return recalculation


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
# quarters, years and all time are rolled up from the months, not from the days again.
_REBUILT_RATING = """
    CREATE TEMPORARY TABLE rebuilt_rating ON COMMIT DROP AS
    WITH sums AS MATERIALIZED (
        SELECT d.member_id, date_trunc('week', d.day)::date AS week,
            date_trunc('month', d.day)::date AS month, SUM(d.points) AS points
        FROM rebuilt_daily d
        WHERE d.kpi_id IN (
            SELECT id FROM kpis_kpi
            WHERE company_id = %(company)s AND status = 'active' AND in_rating AND archived_at IS NULL
        )
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
            cursor.execute(_REBUILT_RATING, params)
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
