"""The history of KPI definitions (K10): who changed what, when. Services write it in the
transaction of the change; the admin's history pages and the API read it."""

from collections.abc import Iterable
from decimal import Decimal

from django.db import models
from django.utils.translation import gettext as _

from kpis.models import Change, ChangeAction, Kpi
from orgs.models import ApiToken, Company, Member

Actor = Member | ApiToken | None


def actor_fields(actor: Actor) -> dict:
    if isinstance(actor, Member):
        return {"actor": actor, "actor_label": str(actor)[:200]}
    if isinstance(actor, ApiToken):
        return {"actor": None, "actor_label": (_("API token “%(name)s”") % {"name": actor.name})[:200]}
    return {"actor": None, "actor_label": _("System")}


def _plain(value) -> object:
    """A JSON-friendly picture of a field's value."""
    if isinstance(value, models.Model):
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


def snapshot(obj: models.Model, fields: Iterable[str]) -> dict:
    return {field: _plain(getattr(obj, field)) for field in fields}


def diff(before: dict, after: dict) -> dict:
    """``{field: [old, new]}`` for the fields whose value changed."""
    return {field: [before.get(field), value] for field, value in after.items() if before.get(field) != value}


def history_record(
    *,
    obj: models.Model,
    action: str,
    actor: Actor,
    changes: dict | None = None,
    kpi: Kpi | None = None,
) -> Change | None:
    """Add one entry. A change that changed nothing is not an entry."""
    if action == ChangeAction.CHANGED and not changes:
        return None
    return Change.objects.create(
        object_type=obj._meta.model_name,
        object_id=obj.pk,
        object_repr=str(obj)[:300],
        kpi=kpi if kpi is not None else (obj if isinstance(obj, Kpi) else None),
        action=action,
        changes=changes or {},
        **actor_fields(actor),
    )


def company_change_record(*, company: Company, changes: dict[str, list], actor: Actor) -> Change | None:
    """The history of a company's settings (O7): ``changes`` is ``{field: [old, new]}``."""
    return history_record(
        obj=company,
        action=ChangeAction.CHANGED,
        actor=actor,
        changes={
            field: [value if isinstance(value, list) else _plain(value) for value in pair]
            for field, pair in changes.items()
        },
    )
