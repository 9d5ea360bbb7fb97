"""Who may see and manage which unit or person (PRODUCT O4). Used by the API, the admin and pages.

* company admin: everything in the company;
* department manager: the departments they manage, their teams and everyone in them;
* team lead: their teams and the people in them (to see; structure stays with managers);
* member: themselves (and their own team and department, to see).

An API token acts for its whole company; its scopes (``orgs.api.permissions``) limit what it does.
All querysets here go through the company-scoped managers.
"""

from django.db.models import Q, QuerySet

from orgs.models import Department, Member, Role, Team


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
