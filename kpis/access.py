"""Who may see and define which KPIs (K6 levels, O4 roles). Used by the API and the admin.

* company admin (and an API token, ``None``): every KPI, unit and target of the company;
* department manager: company KPIs and those of the departments they manage and their teams;
* team lead: company KPIs, their teams' department KPIs and their teams' own;
* member: the KPIs that reach them (K6, K8).

Non-admins see Active KPIs only (K5), except those they may change. Managers and team leads define
KPIs for their own units, hide inherited ones there, and set targets there, only when their company
allows it (``Company.units_define_kpis``).
"""

from django.db.models import Q, QuerySet

from kpis.models import Change, Kpi, KpiStatus, Level, Target, TargetScope
from kpis.selectors import change_list, kpi_list, member_kpis_condition, target_holders_condition, target_list
from orgs.access import is_company_admin, led_team_ids, managed_department_ids
from orgs.models import Company, Department, Member, Role, Team

TARGET_CHANGE = Target._meta.model_name  # a target's entries in the history (``history_record``)


def _units_define_kpis(member: Member) -> bool:
    if not hasattr(member, "_units_define_kpis"):
        member._units_define_kpis = Company.objects.filter(
            id=member.company_id, units_define_kpis=True
        ).exists()
    return member._units_define_kpis


def _led_team_departments(member: Member) -> set[int]:
    if not hasattr(member, "_led_team_department_ids"):
        member._led_team_department_ids = set(
            Team.objects.filter(id__in=led_team_ids(member)).values_list("department_id", flat=True)
        )
    return member._led_team_department_ids


def definable_condition(member: Member) -> Q:
    """The KPIs a manager or lead may change (never company-level ones)."""
    if not _units_define_kpis(member):
        return Q(pk__in=[])
    departments, teams = managed_department_ids(member), led_team_ids(member)
    return (
        Q(level=Level.DEPARTMENT, department_id__in=departments)
        | Q(level=Level.TEAM, department_id__in=departments)
        | Q(level=Level.TEAM, team_id__in=teams)
    )


def visible_kpis(
    viewer: Member | None, *, include_archived: bool = False, filters: dict | None = None
) -> QuerySet[Kpi]:
    """``kpi_list(include_archived=..., filters=...)``, of the KPIs the viewer may see."""
    kpis = kpi_list(include_archived=include_archived, filters=filters)
    if viewer is None or is_company_admin(viewer):
        return kpis
    departments = managed_department_ids(viewer) | _led_team_departments(viewer)
    teams = led_team_ids(viewer)
    in_reach = (
        Q(level=Level.COMPANY)
        | Q(level=Level.DEPARTMENT, department_id__in=departments)
        | Q(level=Level.TEAM, department_id__in=managed_department_ids(viewer))
        | Q(level=Level.TEAM, team_id__in=teams)
    )
    if viewer.role == Role.MEMBER:
        return kpis.filter(member_kpis_condition(viewer) & Q(status=KpiStatus.ACTIVE))
    reach = in_reach | member_kpis_condition(viewer)
    return kpis.filter((reach & Q(status=KpiStatus.ACTIVE)) | definable_condition(viewer))


def may_define_kpi(
    viewer: Member | None, *, level: str, department: Department | None = None, team: Team | None = None
) -> bool:
    """Create or change a KPI at this level (K6)."""
    if viewer is None or is_company_admin(viewer):
        return True
    if level == Level.COMPANY or not _units_define_kpis(viewer):
        return False
    if level == Level.DEPARTMENT:
        return department is not None and department.id in managed_department_ids(viewer)
    if level == Level.TEAM and team is not None:
        return team.department_id in managed_department_ids(viewer) or team.id in led_team_ids(viewer)
    return False


def may_change_kpi(viewer: Member | None, kpi: Kpi) -> bool:
    return may_define_kpi(viewer, level=kpi.level, department=kpi.department, team=kpi.team)


def may_hide_for(
    viewer: Member | None, *, department: Department | None = None, team: Team | None = None
) -> bool:
    """Hide or show an inherited KPI for this unit (K6)."""
    if viewer is None or is_company_admin(viewer):
        return True
    if not _units_define_kpis(viewer):
        return False
    if department is not None:
        return department.id in managed_department_ids(viewer)
    if team is not None:
        return team.department_id in managed_department_ids(viewer) or team.id in led_team_ids(viewer)
    return False


def may_set_target(
    viewer: Member | None,
    *,
    kpi: Kpi,
    scope: str,
    department: Department | None = None,
    team: Team | None = None,
    member: Member | None = None,
) -> bool:
    """Company admins set any target; managers and leads those within their units (if allowed)."""
    if viewer is None or is_company_admin(viewer):
        return True
    if not _units_define_kpis(viewer):
        return False
    managed, led = managed_department_ids(viewer), led_team_ids(viewer)
    if scope == TargetScope.DEPARTMENT:
        return department is not None and department.id in managed
    if scope == TargetScope.TEAM:
        return team is not None and (team.department_id in managed or team.id in led)
    if scope == TargetScope.USER:
        return member is not None and (member.department_id in managed or member.team_id in led)
    return False


def visible_targets(viewer: Member | None, *, filters: dict | None = None) -> QuerySet[Target]:
    """``target_list(filters=...)``, of the targets the viewer may see: of a KPI they see, and of a
    holder they see (O4, ``target_holders_condition``: a person's target is theirs and their
    heads', a unit's is for whoever sees the unit)."""
    targets = target_list(filters=filters)
    if viewer is None or is_company_admin(viewer):
        return targets
    return targets.filter(Q(kpi__in=visible_kpis(viewer).values("pk")) & target_holders_condition(viewer))


def visible_changes(viewer: Member | None, *, kpi: Kpi) -> QuerySet[Change]:
    """The history of ``kpi`` (K10, ``change_list``) as the viewer may read it: a target's entries
    only when they may see the target (``visible_targets``). Entries of a deleted target name
    a holder nobody can look up any more: only a company admin (and a token) reads them."""
    changes = change_list(kpi_id=kpi.id)
    if viewer is None or is_company_admin(viewer):
        return changes
    seen = visible_targets(viewer, filters={"kpi": kpi.id}).order_by().values("id")
    return changes.filter(~Q(object_type=TARGET_CHANGE) | Q(object_id__in=seen))
