"""Writes of the organization (O1, O3–O6) and API tokens (I2). Callers check permissions first
(``orgs.access``); services check the rules of the data."""

import secrets
import zoneinfo
from dataclasses import dataclass

from django.conf import settings as django_settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kpi_platform import hooks
from kpi_platform.errors import DomainError
from orgs.auth import TOKEN_PREFIX, hash_token
from orgs.errors import OrgErrorCode
from orgs.models import ApiToken, Company, Department, Member, Role, Team, TokenScope, User
from orgs.tenancy import company_context, current_company_id

NAME_MAX_LENGTH = 150


def _clean_name(name: str, *, field: str = "name") -> str:
    name = (name or "").strip()
    if not name:
        raise DomainError(OrgErrorCode.NAME_REQUIRED, _("A name is required."), field=field)
    if len(name) > NAME_MAX_LENGTH:
        raise DomainError(
            OrgErrorCode.NAME_LENGTH,
            _("A name has at most %(n)d characters.") % {"n": NAME_MAX_LENGTH},
            field=field,
        )
    return name


# --- Companies (platform operators) ---------------------------------------------------------------


@transaction.atomic
def company_create(
    *,
    slug: str,
    name: str,
    languages: list[str] | None = None,
    time_zone: str = "UTC",
    default_language: str | None = None,
    **settings,
) -> tuple[Company, bool]:
    """Create a tenant with its defaults; an existing slug is returned unchanged (idempotent).

    ``settings``: the other fields of ``COMPANY_SETTINGS`` (the tracking frequencies).
    """
    existing = Company.objects.filter(slug=slug).first()
    if existing is not None:
        return existing, False
    languages = languages or ["en"]
    company = Company(
        slug=slug,
        name=name,
        languages=languages,
        default_language=default_language or languages[0],
        time_zone=time_zone,
        **_company_settings(settings),
    )
    company.full_clean()
    company.save()
    with company_context(company.id):
        hooks.company_created.send(company)
    return company, True


COMPANY_SETTINGS = (
    "name",
    "time_zone",
    "default_language",
    "languages",
    "primary_frequency",
    "secondary_frequency",
    "units_define_kpis",
    "self_reporting",
    "report_frequency",
    "report_hour",
)


def _company_settings(fields: dict) -> dict:
    unknown = set(fields) - set(COMPANY_SETTINGS)
    if unknown:
        raise TypeError(f"not a company setting: {', '.join(sorted(unknown))}")
    return fields


def _company_setting_errors(company: Company) -> list[DomainError]:
    """What is wrong with ``company``'s settings, in the words of the settings page and the API."""
    errors = []
    if company.time_zone not in zoneinfo.available_timezones():
        errors.append(
            DomainError(
                OrgErrorCode.TIME_ZONE_INVALID,
                _("Unknown time zone “%(value)s”: choose one from the list, e.g. Europe/Moscow.")
                % {"value": company.time_zone},
                field="time_zone",
            )
        )
    offered = {code for code, _name in django_settings.LANGUAGES}
    languages = company.languages
    if not isinstance(languages, list) or not languages:
        errors.append(
            DomainError(OrgErrorCode.LANGUAGE_INVALID, _("Choose at least one language."), field="languages")
        )
    elif unknown := sorted({str(code) for code in languages} - offered):
        errors.append(
            DomainError(
                OrgErrorCode.LANGUAGE_INVALID,
                _("Languages not offered: %(codes)s") % {"codes": ", ".join(unknown)},
                field="languages",
            )
        )
    elif company.default_language not in languages:
        errors.append(
            DomainError(
                OrgErrorCode.DEFAULT_LANGUAGE_NOT_ENABLED,
                _("The default language must be one of the enabled languages."),
                field="default_language",
            )
        )
    hour = company.report_hour
    if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23:
        errors.append(
            DomainError(
                OrgErrorCode.REPORT_HOUR_INVALID,
                _("The report's hour is a whole number from 0 to 23."),
                field="report_hour",
            )
        )
    return errors


def company_settings_check(*, company: Company, **fields) -> None:
    """Raise what ``company_update`` would refuse in these settings, changing nothing: for a page
    that asks for a confirmation before it saves."""
    before = {field: getattr(company, field) for field in _company_settings(fields)}
    for field, value in fields.items():
        setattr(company, field, value)
    try:
        errors = _company_setting_errors(company)
    finally:
        for field, value in before.items():
            setattr(company, field, value)
    if errors:
        raise DomainError.many(errors)


@transaction.atomic
def company_update(*, company: Company, actor=None, **fields) -> Company:
    """Change a company's settings (O1, O7): the one place that does, for the settings page, the
    API and the platform operators' admin. Its slug, the handle of commands and scripts, stays.

    Each change is kept in the history with ``actor`` (a ``Member``, an ``ApiToken``, or None for
    the platform): the ``company_settings_changed`` hook, whose reaction writes it (K10).
    """
    company_settings_check(company=company, **fields)
    before = {field: getattr(company, field) for field in COMPANY_SETTINGS}
    for field, value in fields.items():
        setattr(company, field, value)
    company.full_clean()
    company.save(update_fields=[*fields, "updated_at"])
    changes = {
        field: [before[field], getattr(company, field)]
        for field in COMPANY_SETTINGS
        if before[field] != getattr(company, field)
    }
    if changes:
        with company_context(company.id):
            hooks.company_settings_changed.send(company=company, changes=changes, actor=actor)
    return company


# --- Departments and teams -------------------------------------------------------------------------


def _department_name_taken(name: str, exclude_id: int | None = None) -> bool:
    return Department.objects.filter(name__iexact=name).exclude(id=exclude_id).exists()


def _save_unique(obj, *, message: str, update_fields: list[str] | None = None) -> None:
    # The unique constraint settles races that the check before it cannot see.
    try:
        with transaction.atomic():
            obj.save(update_fields=update_fields)
    except IntegrityError as error:
        raise DomainError(OrgErrorCode.NAME_TAKEN, message, field="name") from error


@transaction.atomic
def department_create(*, name: str, managers: list[Member] | None = None) -> Department:
    name = _clean_name(name)
    message = _("A department with this name already exists.")
    if _department_name_taken(name):
        raise DomainError(OrgErrorCode.NAME_TAKEN, message, field="name")
    department = Department(name=name)
    _save_unique(department, message=message)
    if managers is not None:
        department_set_managers(department=department, managers=managers)
    return department


@transaction.atomic
def department_update(
    *, department: Department, name: str | None = None, managers: list[Member] | None = None
) -> Department:
    if name is not None:
        name = _clean_name(name)
        message = _("A department with this name already exists.")
        if _department_name_taken(name, exclude_id=department.id):
            raise DomainError(OrgErrorCode.NAME_TAKEN, message, field="name")
        department.name = name
        _save_unique(department, message=message, update_fields=["name", "updated_at"])
    if managers is not None:
        department_set_managers(department=department, managers=managers)
    return department


def department_set_managers(*, department: Department, managers: list[Member]) -> None:
    department.managers.set(managers)
    # A manager's role says so; admins keep theirs.
    Member.objects.filter(
        user_id__in=[m.user_id for m in managers], role__in=[Role.MEMBER, Role.LEAD]
    ).update(role=Role.MANAGER)


@dataclass(frozen=True)
class DeletionSummary:
    """What deleting a department or team affects (O6), shown before the deletion is confirmed."""

    teams: int
    members: int
    move_to: str | None
    kpis: int = 0  # the unit's own KPIs, archived with it (counted by the kpis app)


def _counted(*, department: Department | None, teams: list[Team]) -> dict[str, int]:
    # Apps whose rows a unit's deletion affects count them, by fields of ``DeletionSummary``.
    counted: dict[str, int] = {}
    for counts in hooks.org_unit_deletion_counts.send(department=department, teams=teams):
        counted.update(counts)
    return counted


def department_deletion_summary(
    *, department: Department, move_to: Department | None = None
) -> DeletionSummary:
    teams = list(department.teams.all())
    return DeletionSummary(
        teams=len(teams),
        members=Member.objects.filter(department=department).count(),
        move_to=str(move_to) if move_to else None,
        **_counted(department=department, teams=teams),
    )


@transaction.atomic
def department_delete(*, department: Department, move_to: Department | None = None) -> DeletionSummary:
    """Delete a department and its teams; no person and no record is lost (O6).

    Its people move to ``move_to`` (directly, without a team) or become unassigned.
    """
    if move_to is not None and move_to.id == department.id:
        raise DomainError(
            OrgErrorCode.TEAM_NOT_IN_DEPARTMENT,
            _("Choose another department to move people to."),
            field="move_to",
        )
    summary = department_deletion_summary(department=department, move_to=move_to)
    _members_moving(
        list(Member.objects.filter(department=department).values_list("user_id", flat=True)),
        move_to.id if move_to else None,
    )
    _team_members_moving(
        list(
            Member.objects.filter(department=department, team__isnull=False).values_list("user_id", flat=True)
        ),
        None,
    )
    Member.objects.filter(department=department).update(
        department=move_to, team=None, updated_at=timezone.now()
    )
    hooks.org_unit_deleted.send(department=department, teams=list(department.teams.all()))
    department.teams.all().delete()
    department.delete()
    return summary


def _members_moving(member_ids: list[int], department_id: int | None) -> None:
    # Before the change: apps that keep figures per department move them along (ratings).
    if member_ids:
        hooks.members_moving.send(member_ids=member_ids, department_id=department_id)


def _team_members_moving(member_ids: list[int], team_id: int | None) -> None:
    # Before the change, after ``_members_moving``: apps that keep figures per team move them along.
    if member_ids:
        hooks.team_members_moving.send(member_ids=member_ids, team_id=team_id)


def _team_name_taken(name: str, department: Department, exclude_id: int | None = None) -> bool:
    return Team.objects.filter(department=department, name__iexact=name).exclude(id=exclude_id).exists()


@transaction.atomic
def team_create(*, name: str, department: Department, leads: list[Member] | None = None) -> Team:
    name = _clean_name(name)
    message = _("This department already has a team with this name.")
    if _team_name_taken(name, department):
        raise DomainError(OrgErrorCode.NAME_TAKEN, message, field="name")
    team = Team(name=name, department=department)
    _save_unique(team, message=message)
    if leads is not None:
        team_set_leads(team=team, leads=leads)
    return team


@transaction.atomic
def team_update(
    *,
    team: Team,
    name: str | None = None,
    department: Department | None = None,
    leads: list[Member] | None = None,
) -> Team:
    fields = []
    if department is not None and department.id != team.department_id:
        team.department = department
        fields.append("department")
    if name is not None:
        team.name = _clean_name(name)
        fields.append("name")
    if fields:
        message = _("This department already has a team with this name.")
        if _team_name_taken(team.name, team.department, exclude_id=team.id):
            raise DomainError(OrgErrorCode.NAME_TAKEN, message, field="name")
        _save_unique(team, message=message, update_fields=[*fields, "updated_at"])
        if "department" in fields:  # a team's people are in its department (O3)
            _members_moving(
                list(Member.objects.filter(team=team).values_list("user_id", flat=True)), department.id
            )
            Member.objects.filter(team=team).update(department=team.department, updated_at=timezone.now())
            hooks.team_moved.send(team=team)
    if leads is not None:
        team_set_leads(team=team, leads=leads)
    return team


def team_set_leads(*, team: Team, leads: list[Member]) -> None:
    team.leads.set(leads)
    Member.objects.filter(user_id__in=[m.user_id for m in leads], role=Role.MEMBER).update(role=Role.LEAD)


def team_deletion_summary(*, team: Team, move_to: Team | None = None) -> DeletionSummary:
    return DeletionSummary(
        teams=0,
        members=Member.objects.filter(team=team).count(),
        move_to=str(move_to) if move_to else None,
        **_counted(department=None, teams=[team]),
    )


@transaction.atomic
def team_delete(*, team: Team, move_to: Team | None = None) -> DeletionSummary:
    """Delete a team; its people move to ``move_to`` or stay in the department without a team (O6)."""
    if move_to is not None and move_to.id == team.id:
        raise DomainError(
            OrgErrorCode.TEAM_NOT_IN_DEPARTMENT, _("Choose another team to move people to."), field="move_to"
        )
    summary = team_deletion_summary(team=team, move_to=move_to)
    members = Member.objects.filter(team=team)
    if move_to is not None:
        _members_moving(
            list(members.exclude(department_id=move_to.department_id).values_list("user_id", flat=True)),
            move_to.department_id,
        )
    _team_members_moving(list(members.values_list("user_id", flat=True)), move_to.id if move_to else None)
    if move_to is not None:
        members.update(team=move_to, department=move_to.department_id, updated_at=timezone.now())
    else:
        members.update(team=None, updated_at=timezone.now())
    hooks.org_unit_deleted.send(department=None, teams=[team])
    team.delete()
    return summary


# --- People ------------------------------------------------------------------------------------------


def _placement(department: Department | None, team: Team | None) -> Department | None:
    if team is not None:
        if department is not None and department.id != team.department_id:
            raise DomainError(
                OrgErrorCode.TEAM_NOT_IN_DEPARTMENT,
                _("The team belongs to another department."),
                field="team",
            )
        return team.department
    return department


def _check_language(language: str) -> None:
    from orgs.selectors import company_get

    if language and language not in company_get().languages:
        raise DomainError(
            OrgErrorCode.LANGUAGE_INVALID,
            _("This language is not enabled for the company."),
            field="language",
        )


def _check_external_id(external_id: str, exclude_id: int | None = None) -> None:
    if external_id and Member.objects.filter(external_id=external_id).exclude(user_id=exclude_id).exists():
        raise DomainError(
            OrgErrorCode.EXTERNAL_ID_TAKEN, _("Another person has this external id."), field="external_id"
        )


def _check_email(email: str, exclude_id: int | None = None) -> None:
    """An e-mail is taken only by another account of this company (O3, issue 17).

    The same address may have an account in any number of companies, each its own row: another
    company's account is neither looked at nor touched, so nothing here tells whether it exists.
    """
    colleagues = User.objects.filter(company_id=current_company_id()).exclude(id=exclude_id)
    if colleagues.filter(email__iexact=email).exists():
        raise DomainError(
            OrgErrorCode.EMAIL_TAKEN, _("This e-mail address is already in use."), field="email"
        )


@transaction.atomic
def member_create(
    *,
    email: str,
    first_name: str = "",
    last_name: str = "",
    role: str = Role.MEMBER,
    department: Department | None = None,
    team: Team | None = None,
    external_id: str = "",
    language: str = "",
    password: str | None = None,
    is_active: bool = True,
) -> Member:
    email = User.objects.normalize_email(email).strip().lower()
    _check_email(email)
    _check_external_id(external_id)
    _check_language(language)
    user = User(
        email=email,
        first_name=first_name,
        last_name=last_name,
        language=language,
        company_id=current_company_id(),
        is_active=is_active,
        is_staff=role == Role.ADMIN,
    )
    user.set_password(password)  # None: an unusable password until they set one
    user.full_clean()
    user.save()
    member = Member(
        user=user, role=role, department=_placement(department, team), team=team, external_id=external_id
    )
    member.full_clean(exclude=["user"])
    member.save()
    return member


_UNSET = object()


@transaction.atomic
def member_update(
    *,
    member: Member,
    first_name: str | None = None,
    last_name: str | None = None,
    email: str | None = None,
    language: str | None = None,
    is_active: bool | None = None,
    role: str | None = None,
    department=_UNSET,
    team=_UNSET,
    external_id: str | None = None,
) -> Member:
    user = member.user
    user_fields = []
    if email is not None:
        email = User.objects.normalize_email(email).strip().lower()
        _check_email(email, exclude_id=user.id)
        user.email = email
        user_fields.append("email")
    for field, value in (("first_name", first_name), ("last_name", last_name)):
        if value is not None:
            setattr(user, field, value)
            user_fields.append(field)
    if language is not None:
        _check_language(language)
        user.language = language
        user_fields.append("language")
    if is_active is not None:
        user.is_active = is_active
        user_fields.append("is_active")
    if role is not None:
        member.role = role
        user.is_staff = role == Role.ADMIN  # company admins use the admin site
        user_fields.append("is_staff")
    if user_fields:
        user.full_clean(validate_unique=False)
        user.save(update_fields=user_fields)

    member_fields = ["role"] if role is not None else []
    if external_id is not None:
        _check_external_id(external_id, exclude_id=member.user_id)
        member.external_id = external_id
        member_fields.append("external_id")
    if department is not _UNSET or team is not _UNSET:
        new_team = member.team if team is _UNSET else team
        new_department = member.department if department is _UNSET else department
        if (
            team is _UNSET
            and department is not _UNSET
            and new_team
            and new_team.department_id != getattr(new_department, "id", None)
        ):
            new_team = None  # moved to another department: leaves the old department's team
        placed = _placement(
            new_department if (department is not _UNSET or new_team is None) else None, new_team
        )
        if getattr(placed, "id", None) != member.department_id:
            _members_moving([member.user_id], getattr(placed, "id", None))
        if getattr(new_team, "id", None) != member.team_id:
            _team_members_moving([member.user_id], getattr(new_team, "id", None))
        member.team, member.department = new_team, placed
        member_fields += ["department", "team"]
    if member_fields:
        member.full_clean(exclude=["user"])
        member.save(update_fields=[*member_fields, "updated_at"])
    return member


@transaction.atomic
def members_move(*, members: list[Member], team: Team) -> int:
    """Move one or many people to a team in one step (O5)."""
    ids = [member.user_id for member in members]
    _members_moving(
        list(
            Member.objects.filter(user_id__in=ids)
            .exclude(department_id=team.department_id)
            .values_list("user_id", flat=True)
        ),
        team.department_id,
    )
    staying = Member.objects.filter(user_id__in=ids, team_id=team.id).values_list("user_id", flat=True)
    _team_members_moving(sorted(set(ids) - set(staying)), team.id)
    return Member.objects.filter(user_id__in=ids).update(
        team=team, department=team.department_id, updated_at=timezone.now()
    )


# --- API tokens ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # shown once, never stored


@transaction.atomic
def api_token_create(*, name: str, scopes: list[str], created_by: Member | None = None) -> NewToken:
    name = _clean_name(name)
    valid = set(TokenScope.values)
    if not scopes or not set(scopes) <= valid:
        raise DomainError(
            OrgErrorCode.SCOPE_INVALID,
            _("Scopes must be some of: %(scopes)s.") % {"scopes": ", ".join(TokenScope.values)},
            field="scopes",
        )
    secret = f"{TOKEN_PREFIX}_{current_company_id()}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        name=name,
        prefix=secret[: len(f"{TOKEN_PREFIX}_{current_company_id()}_") + 6],
        token_hash=hash_token(secret),
        scopes=sorted(set(scopes), key=TokenScope.values.index),
        created_by=created_by,
    )
    return NewToken(token=token, secret=secret)


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at", "updated_at"])
    return token
