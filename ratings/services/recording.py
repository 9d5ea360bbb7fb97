"""Recording KPI actions: the one way in (R3) for the admin, the activity logger, the API and
imports. The aggregate changes it sums are applied by ``ratings.services.aggregates``.

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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import DataError, connection, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from kpi_platform.decimals import parse_cents
from kpi_platform.errors import DomainError
from kpi_platform.periods import FIRST_DAY
from kpis.models import Kpi
from kpis.selectors import KpiReach
from orgs import access
from orgs.models import Company, Member
from orgs.tenancy import current_company_id
from ratings.errors import RatingErrorCode
from ratings.models import COMMENT_MAX_LENGTH, EXTERNAL_ID_MAX_LENGTH, ActionSource, KpiAction
from ratings.services.aggregates import AggregateChange, aggregates_apply, array_literal, lock_kpis_for_share
from ratings.services.points import kpi_points

MAX_BATCH = 5000
MAX_VALUE = Decimal("999999999999.99")  # max_digits=14
FUTURE_TOLERANCE = datetime.timedelta(days=1)
# PostgreSQL's timestamptz takes offsets under 16 hours (±15:59); Python's go up to ±23:59.
MAX_OFFSET = datetime.timedelta(hours=16)


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
    elif abs(moment.utcoffset()) >= MAX_OFFSET:
        return None
    if moment > now + FUTURE_TOLERANCE or moment.date() < FIRST_DAY:
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
        lock_kpis_for_share(ids)
        # Read again: the lock waited for any change in flight, and this read sees its result.
        kpis = Kpi.objects.annotate(key=Lower("integration_name")).filter(id__in=ids)
    return {kpi.key: kpi for kpi in kpis}


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


class _Lookups:
    """The KPIs, people and audiences a recorder has met, by the keys its items name: loaded once
    (only the keys not seen before are queried), so a file of many batches reads each person and
    KPI once. The KPIs stay locked ``FOR SHARE`` to the end of the transaction, and the people are
    those of its first read of them: a file is recorded as the company was when it met each key.

    ``people`` are those the recorder may record for (O5, ``orgs.access.members_recorded_by``):
    anyone else is unknown to it, exactly as someone who does not exist, so an answer never tells
    who else is in the company. The recorder themselves is refused with the same code and a
    message saying why (issue 17)."""

    def __init__(self, people, recorder: Member | None = None):
        self.people = people
        self.recorder = recorder
        self.kpis: dict[str, Kpi | None] = {}
        self.by_email: dict[str, _Person] = {}
        self.by_external_id: dict[str, _Person] = {}
        self.by_id: dict[int, _Person] = {}
        self.user_keys: set[str] = set()
        self.user_ids: set[int] = set()
        self.reach = KpiReach({}, {}, {})
        self.reach_kpis: set[int] = set()

    def is_recorder(self, item: _Item) -> bool:
        """Whether an item the recorder may not record names the recorder themselves (O5). Asked
        only of refused items: telling people about themselves reveals nobody else."""
        recorder = self.recorder
        if recorder is None:
            return False
        if item.user_id_key is not None:
            return item.user_id_key == recorder.user_id
        key = item.user_key
        return key.lower() == recorder.user.email.lower() or (
            bool(recorder.external_id) and key == recorder.external_id
        )

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
            reach = KpiReach.load(kpi_ids)
            self.reach.hidden_departments.update(reach.hidden_departments)
            self.reach.hidden_teams.update(reach.hidden_teams)
            self.reach.audience.update(reach.audience)
            self.reach_kpis |= kpi_ids


def _not_for_yourself() -> str:
    return _(
        "You record actions for the people you manage, not for yourself: your company does not "
        "allow self-reporting."
    )


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
            if item.member is None and lookups.is_recorder(item):
                _error(errors, RatingErrorCode.UNKNOWN_USER, _not_for_yourself(), item.index, "user")
            elif item.member is None:
                _error(
                    errors,
                    RatingErrorCode.UNKNOWN_USER,
                    _("This person is not an active member of the company."),
                    item.index,
                    "user",
                )
        elif item.user_key:
            item.member = by_email.get(item.user_key.lower()) or by_external_id.get(item.user_key)
            if item.member is None and lookups.is_recorder(item):
                _error(errors, RatingErrorCode.UNKNOWN_USER, _not_for_yourself(), item.index, "user")
            elif item.member is None:
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
        if not item.kpi.is_active:
            _error(
                errors,
                RatingErrorCode.KPI_INACTIVE,
                _("The KPI “%(kpi)s” is hidden and accepts no actions.") % {"kpi": item.kpi.integration_name},
                item.index,
                "kpi",
            )
        elif item.kpi.is_calculated:
            _error(
                errors,
                RatingErrorCode.KPI_IS_CALCULATED,
                _("The KPI “%(kpi)s” is calculated from other KPIs and accepts no actions.")
                % {"kpi": item.kpi.integration_name},
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
                array_literal(item.id for item in rows),
                array_literal(item.member.user_id for item in rows),
                array_literal(item.kpi.id for item in rows),
                array_literal(item.value for item in rows),
                array_literal(item.points for item in rows),
                array_literal(item.occurred_at for item in rows),
                array_literal(item.day for item in rows),
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


# Pending daily totals a recorder holds before it writes them (with their rating totals): about
# 40 MB of a worker's memory, and a file of a million rows is written in a handful of upserts.
AGGREGATE_FLUSH_KEYS = 100_000
# The points of each (KPI, value) a recorder has met; files repeat their values.
POINTS_MEMO = 50_000


class ActionsRecorder:
    """Records batches of actions (R1–R4) in one transaction: the service's state between batches.

    Every batch is validated whole and raises a ``DomainError`` of every item's errors by its
    index in the batch (a 400), or of its external-id conflicts (a 409), recording nothing of
    that batch; the recorder goes on and a caller may add more (an import checks the rest of its
    file). The KPIs, people and audiences are read once per recorder (``_Lookups``), and the
    aggregate changes of all batches are summed in memory and applied together, keys sorted, when
    the recorder finishes (or when ``AGGREGATE_FLUSH_KEYS`` daily totals are pending, to bound
    memory): a person's rating total is rewritten once per file, not once per batch. Use it
    through ``actions_recorder``; ``actions_record`` is one batch of it.

    ``recorded_by`` records for the people they manage (O5: a company admin for anyone, a manager
    or a lead for the people of their units, not themselves unless the company allows
    self-reporting); ``None`` (a token, the system) for anyone. Everyone else is ``unknown_user``
    to them, as if they did not exist.
    """

    def __init__(self, *, source: str, recorded_by: Member | None, now: datetime.datetime | None):
        if source not in ActionSource.values:
            raise ValueError(f"unknown source {source!r}")
        self.company = Company.objects.get(id=current_company_id())
        self.tz = self.company.zone
        self.now = now or timezone.now()
        self.source = source
        self.recorded_by_id = recorded_by.user_id if recorded_by is not None else None
        self._lookups = _Lookups(access.members_recorded_by(recorded_by), recorded_by)
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
            raise DomainError.many(sorted(errors, key=lambda error: error.index))

        if len(self._points) > POINTS_MEMO:
            self._points.clear()
        for item in parsed:
            kpi = item.kpi
            points = self._points.get((kpi.id, item.value))
            if points is None:
                try:
                    points = kpi_points(kpi, item.value)
                except DomainError as error:  # more points than an action may give
                    _error(errors, error.code, error.message, item.index, error.field)
                    continue
                self._points[(kpi.id, item.value)] = points
            item.points = points
            item.day = item.occurred_at.astimezone(tz).date()
        if errors:
            raise DomainError.many(errors)
        conflicts: list[DomainError] = []
        _match_in_batch(parsed, conflicts)
        if conflicts:  # report the external ids recorded before too, and insert nothing
            _match_recorded(parsed, conflicts)
        else:
            self._insert(parsed, conflicts)
        if conflicts:
            raise DomainError.many(sorted(conflicts, key=lambda error: error.index))
        change = self._change
        self._batches += 1
        # One batch (the API's): its people's departments and teams were read a moment ago and go
        # along to the departments' and teams' totals. A file's are read again when they are
        # applied: someone may have moved meanwhile (``department_totals_follow``).
        change.placements = None
        if self._batches == 1:
            change.placements = {
                item.member.user_id: (item.member.department_id, item.member.team_id) for item in parsed
            }
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
                    occurred_at=item.occurred_at,  # with the id, orders the day's last action (K11)
                    action_id=item.id,
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
        try:
            recorder.flush()
        except DataError as error:
            # A total past its column (``ratings.services.points``): only many of the largest
            # actions for one person or day get there. Everything is rolled back, as for any
            # refused batch.
            raise DomainError(
                RatingErrorCode.VALUE_INVALID,
                _("These actions would take a total of points past the largest the platform keeps."),
                field="value",
            ) from error


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
    ``Member``). Invalid items raise a ``DomainError`` of every item's errors (``index``); an
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
        )
    with actions_recorder(source=source, recorded_by=recorded_by, now=now) as recorder:
        return recorder.add(items)
