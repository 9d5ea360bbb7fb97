"""When a KPI's points change: its ratio (R2, a recalculation of every action, in the background)
or whether it counts in the rating at all (R6)."""

from collections.abc import Callable
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from kpis.models import Kpi
from orgs.models import Member
from orgs.tenancy import company_context, current_company_id
from ratings.models import DailyTotal, KpiAction, Recalculation, RecalculationStatus
from ratings.periods import period_starts
from ratings.services.aggregates import AggregateChange, aggregates_apply, lock_kpis_for_share
from ratings.services.points import kpi_points

# --- When a KPI starts or stops counting (R6) -------------------------------------------------------


def kpi_rating_state_changed(*, kpi: Kpi, counted_before: bool) -> None:
    """A KPI became Active and in the rating, or stopped being so: move its points into or out of
    the rating totals, in the transaction of the change (a kpis hook). Its rows are locked by the
    change's ``UPDATE``, so no recorder adds to it meanwhile."""
    counts_now = kpi.counts_in_rating
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
            lock_kpis_for_share([kpi.id])
            kpi = Kpi.objects.get(id=kpi.id)
            change = AggregateChange()
            changed = []
            for action in actions:
                points = kpi_points(kpi, action.value)
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
