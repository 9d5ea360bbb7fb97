"""Voiding a wrong action (R5): it stays, marked, and stops counting."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kpi_platform.errors import CommonErrorCode, DomainError
from kpis.models import Kpi
from orgs import access
from orgs.models import Member
from ratings.errors import RatingErrorCode
from ratings.models import KpiAction
from ratings.services.aggregates import AggregateChange, aggregates_apply, lock_kpis_for_share


@transaction.atomic
def action_void(*, action: KpiAction, reason: str, voided_by: Member | None = None) -> KpiAction:
    """Void a wrong action: it stays, marked with who, when and why, and stops counting.

    ``voided_by`` voids the actions of the people they record for (O5): a company admin (and a
    token, the system: None) any, a manager or a lead those of their people, not their own unless
    the company allows self-reporting (issue 17)."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(RatingErrorCode.REQUIRED, _("Say why the action is voided."), field="reason")
    _check_may_void(action, voided_by)
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


def _check_may_void(action: KpiAction, voided_by: Member | None) -> None:
    if voided_by is None or access.is_company_admin(voided_by):
        return
    if access.members_recorded_by(voided_by).filter(user_id=action.member_id).exists():
        return
    if action.member_id == voided_by.user_id:
        message = _(
            "You void the actions of the people you manage, not your own: your company does not "
            "allow self-reporting."
        )
    else:
        message = _("You void the actions of the people you manage only.")
    raise DomainError(CommonErrorCode.PERMISSION_DENIED, message)
