"""Every reaction of one app to another's writes, named in one list.

Apps import only downward (pages → integrations → ratings → kpis → orgs → kpi_platform), yet a
write of a lower app sometimes needs a higher app to react: a new company needs the kpis app's
"points" unit. The lower app calls a hook declared here, which knows no app above it; each higher
app connects its reactions in its ``AppConfig.ready()``. Apps get ready in the order of
``INSTALLED_APPS`` (orgs, ..., kpis, ratings, integrations), so that is the order in which a
hook's reactions run. They run at once, in the caller's transaction and company context: a
reaction that fails rolls the write back. ``kpi_platform/tests/test_hooks.py`` pins this list.

The moment, and who calls it                         Its reactions, in order
---------------------------------------------------  --------------------------------------------
``company_created(company)``                         ``kpis.services.unit_create_default``
  ``orgs.services.company_create``, in the new         ("points", K3)
  company's context
``company_settings_changed(company=, changes=,      ``kpis.history.company_change_record``
  actor=)`` ``orgs.services.company_update``, in      (the settings' history, K10, O7)
  the company's context, after the change
``members_moving(member_ids=, department_id=)``      ``ratings.services.department_totals_follow``
  ``orgs.services``: people about to change
  department (O6), before the change
``team_members_moving(member_ids=, team_id=)``     ``ratings.services.team_totals_follow``
  ``orgs.services``: people about to change team,
  before the change (after ``members_moving``)
``team_moved(team=)``                                ``kpis.services.kpis_follow_team``
  ``orgs.services.team_update``: after its people
  moved with it
``org_unit_deleted(department=, teams=)``            ``kpis.services.archive_org_unit_kpis`` (O6),
  ``orgs.services.department_delete`` and              ``ratings.services.department_totals_delete``
  ``team_delete``, after the people moved out
``org_unit_deletion_counts(department=, teams=)``    ``kpis.selectors.org_unit_deletion_counts``
  ``orgs.services``' ``DeletionSummary``: each         ({"kpis": ...})
  reaction returns fields of the summary
``kpi_rating_state_changed(kpi=, counted_before=)``  ``ratings.services.kpi_rating_state_changed``
  ``kpis.services.kpi_update``, when a KPI starts      (R6)
  or stops counting in the rating
``kpi_aggregation_changed(kpi=,                    ``ratings.services.latest_values_follow``
  aggregation_before=)`` ``kpis.services.            (people's latest values per period, K11)
  kpi_update``, when a KPI's aggregation changes
``demo_steps(demo)``                                 ``orgs.demo``: departments and teams, people,
  ``orgs.demo.demo_seed``, in the demo company's       heads; ``kpis.demo.demo_kpis``;
  context                                              ``ratings.demo.demo_actions``
``admin_actions``: actions an app adds to the list   ``kpis.Kpi``: ``ratings.admin.recalculate_points``;
  of another app's admin, after the list's own         ``ratings.KpiAction``: ``integrations.admin``'s
  (``kpi_platform.admin.CompanyModelAdmin``)           ``export_actions_xlsx``, ``export_actions_csv``
"""

from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from django.db.models import Model

Receiver = TypeVar("Receiver", bound=Callable[..., Any])


class Hook(Generic[Receiver]):
    """A moment other apps react to. ``send`` calls the reactions in the order they connected and
    returns what they returned; an exception stops it and goes to the caller."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._receivers: list[Receiver] = []

    def __repr__(self) -> str:
        return f"<Hook {self.name}>"

    def connect(self, receiver: Receiver) -> Receiver:
        """Add a reaction after the others. A second ``ready()`` (a test's) connects nothing twice."""
        if receiver not in self._receivers:
            self._receivers.append(receiver)
        return receiver

    @property
    def receivers(self) -> tuple[Receiver, ...]:
        return tuple(self._receivers)

    def send(self, *args: Any, **kwargs: Any) -> list[Any]:
        return [receiver(*args, **kwargs) for receiver in self._receivers]


# The reactions' signatures. Arguments are the orgs and kpis models named in the table above; this
# module cannot import them (it is below both).


class CompanyCreated(Protocol):
    def __call__(self, company: Model, /) -> Any: ...


class CompanySettingsChanged(Protocol):
    def __call__(self, *, company: Model, changes: dict[str, list], actor: Any) -> Any: ...


class MembersMoving(Protocol):
    def __call__(self, *, member_ids: list[int], department_id: int | None) -> Any: ...


class TeamMembersMoving(Protocol):
    def __call__(self, *, member_ids: list[int], team_id: int | None) -> Any: ...


class TeamMoved(Protocol):
    def __call__(self, *, team: Model) -> Any: ...


class OrgUnitDeleted(Protocol):
    def __call__(self, *, department: Model | None, teams: list[Model]) -> Any: ...


class OrgUnitDeletionCounts(Protocol):
    def __call__(self, *, department: Model | None, teams: list[Model]) -> dict[str, int]: ...


class KpiRatingStateChanged(Protocol):
    def __call__(self, *, kpi: Model, counted_before: bool) -> Any: ...


class KpiAggregationChanged(Protocol):
    def __call__(self, *, kpi: Model, aggregation_before: str) -> Any: ...


class DemoStep(Protocol):
    def __call__(self, demo: Any, /) -> None: ...  # an ``orgs.demo.Demo``


company_created: Hook[CompanyCreated] = Hook("company_created")
company_settings_changed: Hook[CompanySettingsChanged] = Hook("company_settings_changed")
members_moving: Hook[MembersMoving] = Hook("members_moving")
team_members_moving: Hook[TeamMembersMoving] = Hook("team_members_moving")
team_moved: Hook[TeamMoved] = Hook("team_moved")
org_unit_deleted: Hook[OrgUnitDeleted] = Hook("org_unit_deleted")
org_unit_deletion_counts: Hook[OrgUnitDeletionCounts] = Hook("org_unit_deletion_counts")
kpi_rating_state_changed: Hook[KpiRatingStateChanged] = Hook("kpi_rating_state_changed")
kpi_aggregation_changed: Hook[KpiAggregationChanged] = Hook("kpi_aggregation_changed")
demo_steps: Hook[DemoStep] = Hook("demo_steps")


class AdminActions:
    """Admin actions that an app adds to the list page of another app's model (whose admin cannot
    import them), by the model's label (``"kpis.Kpi"``)."""

    def __init__(self) -> None:
        self._by_model: dict[str, list[Callable]] = {}

    def connect(self, model: type[Model], *actions: Callable) -> None:
        added = self._by_model.setdefault(model._meta.label, [])
        added += [action for action in actions if action not in added]

    def of(self, model: type[Model]) -> tuple[Callable, ...]:
        return tuple(self._by_model.get(model._meta.label, ()))


admin_actions = AdminActions()
