"""Who may see and manage which unit or person (PRODUCT O4), which dashboards they open (D3) and
for whom they record (O5). Used by the API, the admin and the pages.

* company admin: everything in the company;
* department manager: the departments they manage, their teams and everyone in them;
* team lead: their teams and the people in them (to see; structure stays with managers);
* member: themselves (and their own team and department, to see).

Heads record and void actions for the people they manage, not for themselves, unless the company
allows self-reporting (``Company.self_reporting``, O7): then everyone records their own too.

An API token acts for its whole company; its scopes (``orgs.api.permissions``) limit what it does.
All querysets here go through the company-scoped managers.
"""

from django.db.models import Q, QuerySet

from orgs.models import Company, Department, Member, Role, Team


def is_company_admin(member: Member | None) -> bool:
    return member is not None and member.role == Role.ADMIN


def managed_department_ids(member: Member) -> set[int]:
    if not hasattr(member, "_managed_department_ids"):
        member._managed_department_ids = set(member.managed_departments.values_list("id", flat=True))
    return member._managed_department_ids


def led_team_ids(member: Member) -> set[int]:
    if not hasattr(member, "_led_team_ids"):
        member._led_team_ids = set(member.led_teams.values_list("id", flat=True))
    return member._led_team_ids


# --- What a person may see ----------------------------------------------------------------------


def visible_departments(member: Member | None) -> QuerySet[Department]:
    if member is None or is_company_admin(member):  # None: an API token, company-wide
        return Department.objects.all()
    return Department.objects.filter(
        Q(id__in=managed_department_ids(member))
        | Q(teams__id__in=led_team_ids(member))
        | Q(id=member.department_id)
    ).distinct()


def visible_teams(member: Member | None) -> QuerySet[Team]:
    if member is None or is_company_admin(member):
        return Team.objects.all()
    return Team.objects.filter(
        Q(department_id__in=managed_department_ids(member))
        | Q(id__in=led_team_ids(member))
        | Q(id=member.team_id)
    ).distinct()


def visible_members(member: Member | None) -> QuerySet[Member]:
    if member is None or is_company_admin(member):
        return Member.objects.all()
    departments, teams = managed_department_ids(member), led_team_ids(member)
    # A member's department is always their team's department (kept so by orgs.services).
    return Member.objects.filter(
        Q(department_id__in=departments) | Q(team_id__in=teams) | Q(user_id=member.user_id)
    ).distinct()


def named_members(member: Member) -> QuerySet[Member]:
    """The people the viewer sees by name in the units they see (the Organization page): the
    people they may see (``visible_members``) and everyone else in the teams and departments
    they see, whose names the leaderboard of those units (R7) and the team dashboard's breakdown
    already show. Only a name: a profile (D2) and an e-mail stay within ``visible_members``."""
    if is_company_admin(member):
        return Member.objects.all()
    teams = visible_teams(member).values("id")
    departments = visible_departments(member).values("id")
    return Member.objects.filter(
        Q(team_id__in=teams)
        | Q(team__isnull=True, department_id__in=departments)
        | Q(user_id__in=visible_members(member).values("user_id"))
    )


def profiles_open_to(viewer: Member, member_ids) -> set[int]:
    """Which of these people's profiles the viewer may open (D2), to link only those: one query."""
    return set(visible_members(viewer).filter(user_id__in=set(member_ids)).values_list("user_id", flat=True))


# --- Which dashboards a person opens (D3) ---------------------------------------------------------


def may_see_company_dashboard(viewer: Member) -> bool:
    return is_company_admin(viewer)


def dashboard_departments(viewer: Member) -> QuerySet[Department]:
    """Company admins: every department; managers: the ones they manage."""
    departments = Department.objects.order_by("name", "id")
    if is_company_admin(viewer):
        return departments
    return departments.filter(id__in=managed_department_ids(viewer))


def dashboard_teams(viewer: Member) -> QuerySet[Team]:
    """Company admins: every team; managers: their departments' teams; leads: theirs; everyone:
    their own team (D1: the key metrics of their team)."""
    teams = Team.objects.select_related("department").order_by("department__name", "name", "id")
    if is_company_admin(viewer):
        return teams
    return teams.filter(
        Q(department_id__in=managed_department_ids(viewer))
        | Q(id__in=led_team_ids(viewer))
        | Q(id=viewer.team_id)
    )


def may_open_department_dashboard(viewer: Member, department_id: int) -> bool:
    """``dashboard_departments`` for one department, with no query once the viewer's departments
    are read (links and breadcrumbs ask it of many units)."""
    return is_company_admin(viewer) or department_id in managed_department_ids(viewer)


def may_open_team_dashboard(viewer: Member, team_id: int, department_id: int | None) -> bool:
    """``dashboard_teams`` for one team (its id and its department's), as above."""
    return (
        is_company_admin(viewer)
        or department_id in managed_department_ids(viewer)
        or team_id in led_team_ids(viewer)
        or team_id == viewer.team_id
    )


def heads_org_unit(viewer: Member, kind: str, org_unit_id: int, department_id: int | None = None) -> bool:
    """Whether the viewer is over a department or team (O4): its company's admin, its (team's)
    department's manager, or the team's lead; a member of a team is not. No query once the
    viewer's units are read."""
    if is_company_admin(viewer):
        return True
    if kind == "department":
        return org_unit_id in managed_department_ids(viewer)
    return department_id in managed_department_ids(viewer) or org_unit_id in led_team_ids(viewer)


# --- For whom a person records actions (O5) ---------------------------------------------------------


def self_reporting(member: Member) -> bool:
    """Whether the member's company lets people record their own results (O7). Read once per
    person object, from their company when it was read with them (``request.viewer``)."""
    if Member.company.is_cached(member):
        return member.company.self_reporting
    if not hasattr(member, "_self_reporting"):
        member._self_reporting = Company.objects.filter(id=member.company_id, self_reporting=True).exists()
    return member._self_reporting


def may_record(viewer: Member | None) -> bool:
    """Tokens and company admins record for anyone; managers and leads for their people; anyone
    for themselves when the company allows self-reporting."""
    if viewer is None or is_company_admin(viewer):
        return True
    return bool(managed_department_ids(viewer) or led_team_ids(viewer)) or self_reporting(viewer)


def members_recorded_by(recorder: Member | None) -> QuerySet[Member]:
    """The people ``recorder`` records and voids actions for (O5), whether active or not: anyone
    for a token (None) or a company admin; for a manager the people of their departments, for a
    lead those of their teams, never themselves unless the company allows self-reporting (O7)."""
    if recorder is None or is_company_admin(recorder):
        return Member.objects.all()
    reach = Q(department_id__in=managed_department_ids(recorder)) | Q(team_id__in=led_team_ids(recorder))
    if self_reporting(recorder):
        return Member.objects.filter(reach | Q(user_id=recorder.user_id))
    # A manager is often in the department they manage, and a lead in their team.
    return Member.objects.filter(reach).exclude(user_id=recorder.user_id)


def recordable_members(viewer: Member) -> QuerySet[Member]:
    """The active people ``viewer`` records actions for in the activity logger (O5):
    ``members_recorded_by``, by name."""
    return (
        members_recorded_by(viewer)
        .filter(user__is_active=True)
        .select_related("user")
        .order_by("user__first_name", "user__last_name", "user_id")
    )


# --- What a person may change ---------------------------------------------------------------------


def may_manage_company(member: Member | None) -> bool:
    """Create and delete departments, appoint managers, manage API tokens."""
    return member is None or is_company_admin(member)


def may_manage_department(member: Member | None, department: Department) -> bool:
    """Rename the department, create and change its teams, move its people."""
    return may_manage_company(member) or department.id in managed_department_ids(member)


def may_manage_team(member: Member | None, team: Team) -> bool:
    return may_manage_company(member) or team.department_id in managed_department_ids(member)


def may_manage_member(member: Member | None, target: Member) -> bool:
    if may_manage_company(member):
        return True
    if is_company_admin(target):  # an admin's e-mail is their sign-in: only admins change it
        return False
    return target.department_id is not None and target.department_id in managed_department_ids(member)
