"""KPI definitions (PRODUCT K1–K10): units, KPIs, where they are hidden, who receives them,
targets, and the history of every change.

Localized fields (``Unit.name``, ``Kpi.name``, ``Kpi.description``) are registered with
django-modeltranslation in ``kpis/translation.py``: each has one column per platform language
(``name_en``, ``name_ru``). Rules that span rows live in ``kpis/services.py``; the database keeps
the ones it can (``UnitName`` and ``KpiName`` hold the normalised names, unique per company, so K2
and K3 hold even for two requests racing each other).
"""

from decimal import Decimal

from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from orgs.tenancy import CompanyScopedManager, CompanyScopedModel, CompanyScopedQuerySet

UNIT_NAME_MAX_LENGTH = 18
KPI_NAME_MAX_LENGTH = 255
DESCRIPTION_MAX_LENGTH = 10_000
INTEGRATION_NAME_MAX_LENGTH = 100
NAME_KEY_MAX_LENGTH = 300  # a casefolded name can grow ("ß" → "ss")


class UnitDecimals(models.IntegerChoices):
    NONE = 0, _("None (1,234)")
    ONE = 1, _("One (1,234.5)")
    TWO = 2, _("Two (1,234.56)")


class Unit(CompanyScopedModel):
    """A unit of measurement (K3). Every company has the default "points", which stays."""

    name = models.CharField(_("name"), max_length=UNIT_NAME_MAX_LENGTH)
    is_default = models.BooleanField(_("default unit"), default=False, editable=False)
    # How many decimals figures and targets in this unit show (issue 18): 2 for money and hours,
    # 0 for things counted one by one (calls, contracts). A KPI's own rule is ``Kpi.decimals``.
    decimals = models.PositiveSmallIntegerField(
        _("decimals shown"),
        choices=UnitDecimals,
        default=UnitDecimals.TWO,
        help_text=_("How many decimals its figures and targets show: none for things counted one by one."),
    )

    class Meta:
        verbose_name = _("unit of measurement")
        verbose_name_plural = _("units of measurement")
        ordering = ["-is_default", "name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["company"], condition=models.Q(is_default=True), name="unit_one_default_per_company"
            ),
        ]

    def __str__(self) -> str:
        return self.name or "-"


class UnitName(CompanyScopedModel):
    """One normalised name of a unit, in any language (K3). Unique in the company."""

    unit = models.ForeignKey(Unit, models.CASCADE, related_name="name_keys")
    key = models.CharField(max_length=NAME_KEY_MAX_LENGTH)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company", "key"], name="unit_name_unique_in_company")]


class KpiKind(models.TextChoices):
    PRIMARY = "primary", _("Primary")
    SECONDARY = "secondary", _("Secondary")


class KpiStatus(models.TextChoices):
    HIDDEN = "hidden", _("Hidden")
    ACTIVE = "active", _("Active")


class Level(models.TextChoices):
    COMPANY = "company", _("Company")
    DEPARTMENT = "department", _("Department")
    TEAM = "team", _("Team")


class Direction(models.TextChoices):
    HIGHER_IS_BETTER = "higher_is_better", _("Higher is better")
    LOWER_IS_BETTER = "lower_is_better", _("Lower is better")


class Aggregation(models.TextChoices):
    """How a KPI's values combine into its figure for a period and a scope (K11)."""

    SUM = "sum", _("Sum: the values added up")
    COUNT = "count", _("Count: how many actions were recorded")
    AVERAGE = "average", _("Average: the mean of the values")
    MIN = "min", _("Minimum: the lowest value")
    MAX = "max", _("Maximum: the highest value")
    LAST = "last", _("Latest: each person's latest value, added up over people")

    @property
    def is_quantity(self) -> bool:
        """A sum or a count is a quantity of its period: its target is divided among the period's
        days (pacing, breakdowns). Every other figure is a level: its target holds on every day."""
        return self in (Aggregation.SUM, Aggregation.COUNT)


# The default traffic-light bands (K11): green from 100 % of pace, amber from 80 %.
GREEN_FROM = Decimal("100.00")
AMBER_FROM = Decimal("80.00")


class Category(models.TextChoices):
    STRATEGIC = "strategic", _("Strategic")
    OPERATIONAL = "operational", _("Operational")
    FUNCTIONAL = "functional", _("Functional")


class Timing(models.TextChoices):
    LEADING = "leading", _("Leading")
    LAGGING = "lagging", _("Lagging")


class Measure(models.TextChoices):
    QUANTITATIVE = "quantitative", _("Quantitative")
    QUALITATIVE = "qualitative", _("Qualitative")


class Perspective(models.TextChoices):
    FINANCIAL = "financial", _("Financial")
    CUSTOMER = "customer", _("Customer")
    INTERNAL_PROCESS = "internal_process", _("Internal process")
    LEARNING_AND_GROWTH = "learning_and_growth", _("Learning and growth")


class KpiQuerySet(CompanyScopedQuerySet):
    def counting_in_rating(self) -> "KpiQuerySet":
        """R6: the KPIs whose actions count in the rating (``Kpi.counts_in_rating`` of one row)."""
        return self.filter(status=KpiStatus.ACTIVE, in_rating=True, archived_at__isnull=True)


class Kpi(CompanyScopedModel):
    """A key performance indicator (K1, K4–K6, K9)."""

    name = models.CharField(_("name"), max_length=KPI_NAME_MAX_LENGTH)
    description = models.TextField(_("description and terms"), blank=True, default="")
    integration_name = models.CharField(
        _("integration field name"),
        max_length=INTEGRATION_NAME_MAX_LENGTH,
        help_text=_("Letters, digits and _; the same in every language. Used to import KPI actions."),
    )
    unit = models.ForeignKey(Unit, models.PROTECT, related_name="kpis", verbose_name=_("unit of measurement"))
    kind = models.CharField(_("kind"), max_length=16, choices=KpiKind, default=KpiKind.PRIMARY)
    status = models.CharField(_("status"), max_length=16, choices=KpiStatus, default=KpiStatus.HIDDEN)
    in_rating = models.BooleanField(_("consider in the rating"), default=False)
    rating_units = models.DecimalField(
        _("units of measurement"), max_digits=12, decimal_places=2, default=Decimal("1.00")
    )
    rating_points = models.PositiveIntegerField(_("rating points"), default=1)
    level = models.CharField(_("level"), max_length=16, choices=Level, default=Level.COMPANY)
    # A team-level KPI also carries its team's department, so a department's list is one filter.
    department = models.ForeignKey(
        "orgs.Department",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("department"),
    )
    team = models.ForeignKey(
        "orgs.Team", models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("team")
    )
    direction = models.CharField(
        _("direction"), max_length=20, choices=Direction, default=Direction.HIGHER_IS_BETTER
    )
    owner = models.ForeignKey(
        "orgs.Member",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_kpis",
        verbose_name=_("owner"),
    )
    category = models.CharField(_("category"), max_length=16, choices=Category, blank=True, default="")
    timing = models.CharField(_("leading or lagging"), max_length=16, choices=Timing, blank=True, default="")
    measure = models.CharField(
        _("quantitative or qualitative"), max_length=16, choices=Measure, blank=True, default=""
    )
    perspective = models.CharField(
        _("Balanced Scorecard perspective"), max_length=24, choices=Perspective, blank=True, default=""
    )
    aggregation = models.CharField(
        _("how values combine"),
        max_length=8,
        choices=Aggregation,
        default=Aggregation.SUM,
        help_text=_(
            "Sum or count for flows (calls, revenue); average, minimum or maximum for rates and "
            "records; latest for levels (open pipeline, headcount): a team shows the sum of its "
            "people's latest values."
        ),
    )
    # A calculated KPI (K11): an expression over other KPIs' integration names (kpis.formulas),
    # evaluated on their figures for the same scope and period. Empty: a KPI of recorded actions.
    formula = models.CharField(_("formula"), max_length=500, blank=True, default="")
    threshold_green = models.DecimalField(
        # xgettext:no-python-format
        _("green from (% of pace)"),
        max_digits=7,
        decimal_places=2,
        default=GREEN_FROM,
    )
    threshold_amber = models.DecimalField(
        # xgettext:no-python-format
        _("amber from (% of pace)"),
        max_digits=7,
        decimal_places=2,
        default=AMBER_FROM,
    )
    # O6: a KPI whose unit was deleted is archived, never deleted (actions point at it).
    archived_at = models.DateTimeField(_("archived"), null=True, blank=True, editable=False)

    objects = CompanyScopedManager.from_queryset(KpiQuerySet)()

    class Meta:
        verbose_name = _("KPI")
        verbose_name_plural = _("KPIs")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                "company", Lower("integration_name"), name="kpi_integration_name_unique_in_company"
            ),
            models.CheckConstraint(condition=models.Q(rating_units__gt=0), name="kpi_rating_units_positive"),
            models.CheckConstraint(
                condition=models.Q(rating_points__gte=1), name="kpi_rating_points_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(threshold_amber__gt=0, threshold_green__gt=models.F("threshold_amber")),
                name="kpi_thresholds_ordered",
            ),
        ]
        indexes = [
            models.Index(fields=["company", "level"], name="kpi_company_level"),
            models.Index(fields=["company", "department"], name="kpi_company_department"),
            models.Index(fields=["company", "team"], name="kpi_company_team"),
        ]

    def __str__(self) -> str:
        return self.name or self.integration_name

    @property
    def is_active(self) -> bool:
        return self.status == KpiStatus.ACTIVE and self.archived_at is None

    @property
    def counts_in_rating(self) -> bool:
        """R6: only Active KPIs in the rating count (``Kpi.objects.counting_in_rating()`` in SQL)."""
        return self.status == KpiStatus.ACTIVE and self.in_rating and self.archived_at is None

    @property
    def is_calculated(self) -> bool:
        """K11: its figure is computed from other KPIs' figures; it accepts no actions."""
        return bool(self.formula)

    @property
    def is_level(self) -> bool:
        """K11: its target holds on every day of its period (not divided among them)."""
        return self.is_calculated or not Aggregation(self.aggregation).is_quantity

    @property
    def decimals(self) -> int:
        """How many decimals its figures and targets show, on every page, report and export
        (issue 18): none for a count (K11), two at least for an average or a formula (a rate, a
        mean score), else its unit's. Reads ``unit``: select it with the KPI."""
        if self.aggregation == Aggregation.COUNT and not self.is_calculated:
            return 0
        if self.is_calculated or self.aggregation == Aggregation.AVERAGE:
            return max(2, self.unit.decimals)
        return self.unit.decimals

    @property
    def ratio(self) -> str:
        return f"{self.rating_units} = {self.rating_points}"


class KpiName(CompanyScopedModel):
    """One normalised name of a KPI, in any language (K2). Unique in the company."""

    kpi = models.ForeignKey(Kpi, models.CASCADE, related_name="name_keys")
    key = models.CharField(max_length=NAME_KEY_MAX_LENGTH)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company", "key"], name="kpi_name_unique_in_company")]


def _exactly_one(*fields: str) -> models.Q:
    """A check that exactly one of ``fields`` is set."""
    condition = models.Q()
    for field in fields:
        others = models.Q(**{f"{other}__isnull": True for other in fields if other != field})
        condition |= models.Q(**{f"{field}__isnull": False}) & others
    return condition


class KpiHide(CompanyScopedModel):
    """An inherited KPI hidden for a department (and its teams) or for a team (K6)."""

    kpi = models.ForeignKey(Kpi, models.CASCADE, related_name="hides")
    department = models.ForeignKey("orgs.Department", models.CASCADE, null=True, blank=True, related_name="+")
    team = models.ForeignKey("orgs.Team", models.CASCADE, null=True, blank=True, related_name="+")
    hidden_by = models.ForeignKey("orgs.Member", models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=_exactly_one("department", "team"), name="kpi_hide_one_unit"),
            models.UniqueConstraint(
                fields=["company", "kpi", "department"],
                condition=models.Q(department__isnull=False),
                name="kpi_hide_department_unique",
            ),
            models.UniqueConstraint(
                fields=["company", "kpi", "team"],
                condition=models.Q(team__isnull=False),
                name="kpi_hide_team_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["company", "department"], name="kpi_hide_company_department"),
            models.Index(fields=["company", "team"], name="kpi_hide_company_team"),
        ]


class KpiAudience(CompanyScopedModel):
    """One entry of a KPI's access assignment (K8): a department, a team or a person within the
    KPI's level. A KPI without entries reaches everyone at its level."""

    kpi = models.ForeignKey(Kpi, models.CASCADE, related_name="audience")
    department = models.ForeignKey("orgs.Department", models.CASCADE, null=True, blank=True, related_name="+")
    team = models.ForeignKey("orgs.Team", models.CASCADE, null=True, blank=True, related_name="+")
    member = models.ForeignKey("orgs.Member", models.CASCADE, null=True, blank=True, related_name="+")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=_exactly_one("department", "team", "member"), name="kpi_audience_one_entry"
            ),
            models.UniqueConstraint(
                fields=["company", "kpi", "department"],
                condition=models.Q(department__isnull=False),
                name="kpi_audience_department_unique",
            ),
            models.UniqueConstraint(
                fields=["company", "kpi", "team"],
                condition=models.Q(team__isnull=False),
                name="kpi_audience_team_unique",
            ),
            models.UniqueConstraint(
                fields=["company", "kpi", "member"],
                condition=models.Q(member__isnull=False),
                name="kpi_audience_member_unique",
            ),
        ]


class TargetPeriod(models.TextChoices):
    MONTH = "month", _("Month")
    QUARTER = "quarter", _("Quarter")
    YEAR = "year", _("Year")


class BreakdownPeriod(models.TextChoices):
    QUARTER = "quarter", _("Quarters")
    MONTH = "month", _("Months")
    WEEK = "week", _("Weeks")


class BreakdownMethod(models.TextChoices):
    EVEN = "even", _("Evenly")
    DAYS = "days", _("By number of days")
    MANUAL = "manual", _("By hand")


class TargetScope(models.TextChoices):
    COMPANY = "company", _("Company")
    DEPARTMENT = "department", _("Department")
    TEAM = "team", _("Team")
    USER = "user", _("Person")


class Target(CompanyScopedModel):
    """A KPI's target value for a period and for the company, a unit or a person (K9)."""

    kpi = models.ForeignKey(Kpi, models.CASCADE, related_name="targets", verbose_name=_("KPI"))
    period = models.CharField(_("period"), max_length=16, choices=TargetPeriod)
    start = models.DateField(_("start"))
    scope = models.CharField(_("for"), max_length=16, choices=TargetScope, default=TargetScope.COMPANY)
    department = models.ForeignKey(
        "orgs.Department",
        models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("department"),
    )
    team = models.ForeignKey(
        "orgs.Team", models.CASCADE, null=True, blank=True, related_name="+", verbose_name=_("team")
    )
    member = models.ForeignKey(
        "orgs.Member", models.CASCADE, null=True, blank=True, related_name="+", verbose_name=_("person")
    )
    # "company", "department:4", "team:7", "user:12": one target per KPI, period and holder, with
    # a plain unique constraint (NULLs in the foreign keys would not collide).
    scope_key = models.CharField(max_length=40, editable=False)
    value = models.DecimalField(_("target value"), max_digits=14, decimal_places=2)
    breakdown_period = models.CharField(
        _("broken down into"), max_length=16, choices=BreakdownPeriod, blank=True, default=""
    )
    breakdown_method = models.CharField(
        _("breakdown"), max_length=16, choices=BreakdownMethod, blank=True, default=""
    )

    class Meta:
        verbose_name = _("target")
        verbose_name_plural = _("targets")
        ordering = ["kpi_id", "-start", "scope_key"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "kpi", "period", "start", "scope_key"], name="target_unique_per_holder"
            ),
            models.CheckConstraint(condition=models.Q(value__gte=0), name="target_value_not_negative"),
        ]
        indexes = [models.Index(fields=["company", "kpi", "start"], name="target_company_kpi_start")]

    def __str__(self) -> str:
        return f"{self.kpi} · {self.get_period_display()} {self.start:%Y-%m-%d} · {self.value}"


class TargetPart(CompanyScopedModel):
    """A target broken down into a shorter period (K9): its share of the target's value."""

    target = models.ForeignKey(Target, models.CASCADE, related_name="parts")
    start = models.DateField()
    end = models.DateField()  # inclusive
    value = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        ordering = ["target_id", "start"]
        constraints = [
            models.UniqueConstraint(fields=["company", "target", "start"], name="target_part_unique"),
        ]


class ChangeAction(models.TextChoices):
    CREATED = "created", _("Created")
    CHANGED = "changed", _("Changed")
    DELETED = "deleted", _("Deleted")
    ARCHIVED = "archived", _("Archived")
    HIDDEN = "hidden", _("Hidden for a unit")
    UNHIDDEN = "unhidden", _("Shown again for a unit")
    RECALCULATED = "recalculated", _("Points recalculated")


class Change(CompanyScopedModel):
    """One entry of the history (K10): who changed what, when, from which value to which.

    Written by the services in the transaction of the change. ``kpi`` groups the history of a
    KPI with that of its targets, audience and hides.
    """

    at = models.DateTimeField(_("when"), default=timezone.now, db_index=False)
    actor = models.ForeignKey(
        "orgs.Member", models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("who")
    )
    actor_label = models.CharField(_("who"), max_length=200, blank=True)
    object_type = models.CharField(max_length=32)
    object_id = models.BigIntegerField()
    object_repr = models.CharField(_("object"), max_length=300)
    kpi = models.ForeignKey(Kpi, models.CASCADE, null=True, blank=True, related_name="changes")
    action = models.CharField(_("what"), max_length=16, choices=ChangeAction)
    changes = models.JSONField(_("changes"), default=dict, blank=True)

    class Meta:
        verbose_name = _("change")
        verbose_name_plural = _("history")
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["company", "kpi", "at"], name="change_company_kpi_at"),
            models.Index(fields=["company", "object_type", "object_id"], name="change_company_object"),
        ]

    def __str__(self) -> str:
        return f"{self.object_repr}: {self.get_action_display()}"
