"""The tenant and its organization (PRODUCT O1, O3, O4) and API tokens (I2)."""

import datetime
import zoneinfo

from django.conf import settings
from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.models import AbstractBaseUser, PermissionsMixin
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kpi_platform.models import BaseModel
from orgs.tenancy import CompanyScopedModel


class TrackingFrequency(models.TextChoices):
    DAILY = "daily", _("Daily")
    WEEKLY = "weekly", _("Weekly")
    MONTHLY = "monthly", _("Monthly")
    QUARTERLY = "quarterly", _("Quarterly")


class ReportFrequency(models.TextChoices):
    """How often managers and team leads get the KPI report by e-mail (D5)."""

    OFF = "off", _("Never")
    DAILY = "daily", _("Daily")
    WEEKLY = "weekly", _("Weekly")
    MONTHLY = "monthly", _("Monthly")


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(
            _("Unknown time zone: %(value)s"), code="time_zone_invalid", params={"value": value}
        )


def validate_languages(value: list) -> None:
    offered = {code for code, _name in settings.LANGUAGES}
    if not isinstance(value, list) or not value or not all(isinstance(code, str) for code in value):
        raise ValidationError(_("Choose at least one language."), code="languages_required")
    unknown = sorted(set(value) - offered)
    if unknown:
        raise ValidationError(
            # Not "invalid": a field swaps in its own message for a code it knows.
            _("Languages not offered: %(codes)s"),
            code="language_invalid",
            params={"codes": ", ".join(unknown)},
        )


class Company(BaseModel):
    """The tenant (O1). Global: it is the scope, not scoped."""

    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=50, unique=True)
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="UTC", validators=[validate_time_zone]
    )
    default_language = models.CharField(_("default language"), max_length=8, default="en")
    languages = models.JSONField(
        _("enabled content languages"), default=list, validators=[validate_languages]
    )
    primary_frequency = models.CharField(
        _("tracking frequency of primary KPIs"), max_length=16, choices=TrackingFrequency, default="monthly"
    )
    secondary_frequency = models.CharField(
        _("tracking frequency of secondary KPIs"), max_length=16, choices=TrackingFrequency, default="weekly"
    )
    units_define_kpis = models.BooleanField(
        _("managers and team leads define KPIs for their units"),
        default=False,
        help_text=_(
            "They may then add KPIs for their own departments and teams and hide inherited ones (K6)."
        ),
    )
    self_reporting = models.BooleanField(
        _("people record their own results"),
        default=False,
        help_text=_(
            "Everyone may then record and void actions for themselves; otherwise people record for "
            "those they manage only (O5)."
        ),
    )
    report_frequency = models.CharField(
        _("KPI report e-mail"), max_length=16, choices=ReportFrequency, default=ReportFrequency.WEEKLY
    )
    report_hour = models.PositiveSmallIntegerField(
        _("hour of the KPI report"),
        default=8,
        validators=[MaxValueValidator(23)],
        help_text=_("In the company's time zone, 0–23."),
    )
    # The first day of the last period reported: each period's report goes out once (D5).
    report_last_start = models.DateField(_("last report's period"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("company")
        verbose_name_plural = _("companies")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The company's time zone: every day and time a person reads is in it."""
        return zoneinfo.ZoneInfo(self.time_zone)

    def now(self) -> datetime.datetime:
        """The current moment in the company's time zone."""
        return timezone.localtime(timezone=self.zone)

    def today(self) -> datetime.date:
        """The current day in the company's time zone (periods and targets begin on its days)."""
        return timezone.localdate(timezone=self.zone)

    def clean(self) -> None:
        if self.languages and self.default_language not in self.languages:
            raise ValidationError(
                {"default_language": _("The default language must be one of the enabled languages.")}
            )


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields) -> "User":
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields) -> "User":
        fields.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person's account in one company (by e-mail). Global, because sign-in happens before any
    company is known.

    The account *is* the membership (O3, issue 17): the same e-mail may have an account in several
    companies, each a row of its own with its own password, name, language and ``Member`` (role,
    department, team), and nothing one company does touches or reveals another's. So the e-mail
    is unique per company (case-insensitively), and among platform operators, who have no company.
    Signing in finds every account of the e-mail that the password opens and asks which company
    when there are several (``orgs.auth.EmailBackend``).

    ``company`` is how a session finds its company; everything the company knows about the
    person (role, department, team) is on the company-scoped ``Member``.
    """

    email = models.EmailField(_("e-mail"))
    first_name = models.CharField(_("first name"), max_length=150, blank=True)
    last_name = models.CharField(_("last name"), max_length=150, blank=True)
    language = models.CharField(_("language"), max_length=8, blank=True)
    company = models.ForeignKey(Company, models.PROTECT, null=True, blank=True, related_name="+")
    is_active = models.BooleanField(_("active"), default=True)
    is_staff = models.BooleanField(_("staff status"), default=False)
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            # Also the index sign-in finds an e-mail's accounts by (its leading column).
            models.UniqueConstraint(
                Lower("email"),
                "company",
                condition=models.Q(company__isnull=False),
                name="user_email_unique_in_company",
                violation_error_message=_("This e-mail address is already in use."),
            ),
            models.UniqueConstraint(
                Lower("email"),
                condition=models.Q(company__isnull=True),
                name="user_email_unique_among_operators",
                violation_error_message=_("This e-mail address is already in use."),
            ),
        ]
        indexes = [
            # Recording looks people up by their stored (lower-case) e-mail, as the unique column
            # it replaces was: ratings.services.recording._load_people.
            models.Index(fields=["email"], name="user_email"),
            # The few deactivated people, whom a list of a unit's active people leaves out
            # (``active_people``) without joining every person to their account.
            models.Index(fields=["id"], condition=models.Q(is_active=False), name="user_inactive"),
        ]

    def __str__(self) -> str:
        return self.get_full_name() or self.email

    def get_full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def get_short_name(self) -> str:
        return self.first_name or self.email


class Department(CompanyScopedModel):
    name = models.CharField(_("name"), max_length=150)
    managers = models.ManyToManyField(
        "orgs.Member", blank=True, through="orgs.DepartmentManager", related_name="managed_departments"
    )

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint("company", Lower("name"), name="department_name_unique_in_company"),
        ]

    def __str__(self) -> str:
        return self.name


class Team(CompanyScopedModel):
    name = models.CharField(_("name"), max_length=150)
    department = models.ForeignKey(
        Department, models.PROTECT, related_name="teams", verbose_name=_("department")
    )
    leads = models.ManyToManyField(
        "orgs.Member", blank=True, through="orgs.TeamLead", related_name="led_teams"
    )

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                "company", "department", Lower("name"), name="team_name_unique_in_department"
            ),
        ]
        indexes = [models.Index(fields=["company", "department"], name="team_company_department")]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", _("Company admin")
    MANAGER = "manager", _("Department manager")
    LEAD = "lead", _("Team lead")
    MEMBER = "member", _("Member")


class Member(CompanyScopedModel):
    """A person within their company (O3, O4). Its id is the user's id."""

    user = models.OneToOneField(User, models.CASCADE, primary_key=True, related_name="member")
    role = models.CharField(_("role"), max_length=16, choices=Role, default=Role.MEMBER)
    department = models.ForeignKey(
        Department,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="members",
        verbose_name=_("department"),
    )
    team = models.ForeignKey(
        Team, models.SET_NULL, null=True, blank=True, related_name="members", verbose_name=_("team")
    )
    external_id = models.CharField(_("external id"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("people")
        ordering = ["user_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "external_id"],
                condition=~models.Q(external_id=""),
                name="member_external_id_unique_in_company",
            ),
        ]
        indexes = [
            # A unit's people are read from the index alone (its leaderboard looks up their rows).
            models.Index(fields=["company", "department", "user"], name="member_company_department"),
            models.Index(fields=["company", "team", "user"], name="member_company_team"),
        ]

    def __str__(self) -> str:
        return str(self.user)

    @property
    def id(self) -> int:
        return self.user_id


class DepartmentManager(CompanyScopedModel):
    """Who manages a department (O4). Explicit, so the link carries its company (X4)."""

    department = models.ForeignKey(Department, models.CASCADE, related_name="+")
    member = models.ForeignKey(Member, models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["company", "department", "member"], name="department_manager_unique"
            ),
        ]


class TeamLead(CompanyScopedModel):
    """Who leads a team (O4)."""

    team = models.ForeignKey(Team, models.CASCADE, related_name="+")
    member = models.ForeignKey(Member, models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["company", "team", "member"], name="team_lead_unique"),
        ]


class TokenScope(models.TextChoices):
    READ = "read", _("Read")
    ACTIONS = "actions", _("Record actions")
    DEFINITIONS = "definitions", _("KPI definitions")
    ORG = "org", _("Organization")


class ApiToken(CompanyScopedModel):
    """A company's API token (I2). Only a SHA-256 of the secret is stored; it is shown once."""

    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=32, editable=False)
    token_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(_("scopes"), default=list)
    created_by = models.ForeignKey(
        Member, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("created by")
    )
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "token_hash"], name="api_token_hash_unique_in_company"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
