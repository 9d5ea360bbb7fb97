"""Voiding a wrong action (R5): it stays, marked, and stops counting."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kpi_platform.errors import DomainError
from kpis.models import Kpi
from orgs.models import Member
from ratings.errors import RatingErrorCode
from ratings.models import KpiAction
from ratings.services.aggregates import AggregateChange, aggregates_apply, lock_kpis_for_share


@transaction.atomic
def action_void(*, action: KpiAction, reason: str, voided_by: Member | None = None) -> KpiAction:
    """Void a wrong action: it stays, marked with who, when and why, and stops counting."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(RatingErrorCode.REQUIRED, _("Say why the action is voided."), field="reason")
    locked = KpiAction.objects.select_for_update().get(id=action.id)
    lock_kpis_for_share([locked.kpi_id])
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
        occurred_at=locked.occurred_at,
        action_id=locked.id,
    )
    aggregates_apply(change)
    return locked
