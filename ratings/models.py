"""KPI actions and the aggregates ratings are read from (PRODUCT R1–R7).

``KpiAction`` is the source of truth: one recorded result, with its points computed when it was
recorded (R2), never edited, only voided (R5). The aggregates are kept up to date by the
recording service in the same transaction, and ``manage.py rebuild_ratings`` recomputes them from
the actions to exactly the same numbers:

* ``DailyTotal``: per person, KPI and local day, every non-voided action (targets, dashboards,
  arbitrary date ranges); ``CompanyDailyTotal`` the same for the whole company per KPI and day,
  and ``DepartmentDailyTotal`` for each department's people (those in it now: they take their
  totals with them when they move). Each keeps the sums, the count, the lowest and highest value
  and, per person, the latest action: what every aggregation of K11 is read from;
* ``RatingTotal``: per person and period (ISO week, month, quarter, year, all time), the points of
  non-voided actions whose KPI counts in the rating now (Active, in the rating; R6), so a
  leaderboard is an index scan;
* ``RatingBoard``: per period, how many people have points in it (a leaderboard's size);
* ``PeriodLatest``: per person, level KPI (K11 ``last``) and week, month, quarter or year, the
  latest value in it, so a unit's level is a sum of one row per person.
"""

import datetime

from django.db import models
from django.db.models.functions import Cast, Round
from django.utils.translation import gettext_lazy as _

from kpi_platform.models import JobStatus
from orgs.tenancy import CompanyScopedModel, current_company_id

EXTERNAL_ID_MAX_LENGTH = 100
COMMENT_MAX_LENGTH = 2000
ALL_TIME_START = datetime.date(1970, 1, 1)  # the one "period" of all time


class ActionSource(models.TextChoices):
    MANUAL = "manual", _("Manual")
    LOGGER = "logger", _("Activity logger")
    API = "api", _("API")
    IMPORT = "import", _("File import")
    INTEGRATION = "sync", _("Integration source")  # pulled by a worker (issue 20)


# A foreign key that is neither a constraint nor an index of its own (the ORM still protects it):
# why each table has some is said where it uses it.
_UNCHECKED_FK = {"on_delete": models.PROTECT, "related_name": "+", "db_constraint": False, "db_index": False}


class KpiAction(CompanyScopedModel):
    """One recorded result of a person on a KPI (R1).

    Every action writes an entry in each of the table's indexes, so it has only those its reads
    use: the composite ones below (each starts with the company, which every query and the
    row-level security policy name) and the external ids'. Its foreign keys have no index of their
    own: the company, person and KPI ones would be prefixes of the composite indexes, and the
    recorder's and voider's would serve only the deletion of a person, which the product does
    not do (people are deactivated), and which the company's index still serves.

    The company and the recorder are not foreign-key constraints in the database either: at the
    commit every action would check (and lock ``FOR KEY SHARE``) the same company row, and its
    recorder's, a thousand times a batch, and concurrent batches would share those locks through
    multixacts. The company is guarded by the row-level security policy (an action's company is
    the session's), the recorder by the service (the member who records); the ORM still refuses
    to delete a company with actions (``PROTECT``) and empties ``recorded_by`` of a deleted person.
    The person and the KPI, which every figure hangs on, keep their constraints."""

    company = models.ForeignKey("orgs.Company", default=current_company_id, editable=False, **_UNCHECKED_FK)
    member = models.ForeignKey(
        "orgs.Member", models.PROTECT, related_name="+", verbose_name=_("person"), db_index=False
    )
    kpi = models.ForeignKey(
        "kpis.Kpi", models.PROTECT, related_name="+", verbose_name=_("KPI"), db_index=False
    )
    value = models.DecimalField(_("value"), max_digits=14, decimal_places=2)
    points = models.DecimalField(_("points"), max_digits=16, decimal_places=2)
    occurred_at = models.DateTimeField(_("when"))
    # The local date in the company's time zone when recorded: periods are counted by it (R6).
    day = models.DateField(_("day"))
    source = models.CharField(_("source"), max_length=8, choices=ActionSource)
    recorded_by = models.ForeignKey(
        "orgs.Member",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recorded by"),
        db_index=False,
        db_constraint=False,
    )
    external_id = models.CharField(
        _("external id"), max_length=EXTERNAL_ID_MAX_LENGTH, blank=True, default=""
    )
    comment = models.TextField(_("comment"), blank=True, default="")
    voided_at = models.DateTimeField(_("voided"), null=True, blank=True)
    voided_by = models.ForeignKey(
        "orgs.Member",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("voided by"),
        db_index=False,
    )
    void_reason = models.TextField(_("reason for voiding"), blank=True, default="")

    class Meta:
        verbose_name = _("KPI action")
        verbose_name_plural = _("KPI actions")
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "external_id"],
                condition=~models.Q(external_id=""),
                name="action_external_id_unique_in_company",
            ),
            models.CheckConstraint(condition=models.Q(value__gte=0), name="action_value_not_negative"),
        ]
        indexes = [
            models.Index(fields=["company", "occurred_at"], name="action_company_occurred"),
            models.Index(fields=["company", "member", "occurred_at"], name="action_company_member"),
            models.Index(fields=["company", "kpi", "occurred_at"], name="action_company_kpi"),
            # The activity logger's "Just recorded": a recorder's latest actions (issue 18). Only
            # actions someone recorded by hand or by a file have a recorder: an integration's
            # (a token's) write no entry here.
            models.Index(
                fields=["company", "recorded_by", "-id"],
                name="action_company_recorder",
                condition=models.Q(recorded_by__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kpi_id}: {self.value} ({self.occurred_at:%Y-%m-%d %H:%M})"

    @property
    def is_voided(self) -> bool:
        return self.voided_at is not None


# The aggregates are derived from the actions, whose foreign keys already guard every person, KPI
# and company they name (and the ORM's PROTECT still refuses a deletion; people and KPIs are
# deactivated and archived, not deleted). Without constraints of their own, the thousands of rows
# a batch or a rebuild writes skip a referential check each (a ``SELECT … FOR KEY SHARE`` of the
# person, the KPI and the company), and without single-column indexes (every read goes through
# the composite ones, which start with the company) each write updates fewer indexes. For the same
# reason their primary key is their natural key (no ``id`` and its index). Their foreign keys are
# ``_UNCHECKED_FK``.


class _Sums(CompanyScopedModel):
    """What K11 keeps of some non-voided actions on one KPI: the sums of their values and points,
    their count, and their lowest and highest value (``_DaySums`` and ``DepartmentMonthTotal``)."""

    company = models.ForeignKey("orgs.Company", default=current_company_id, editable=False, **_UNCHECKED_FK)
    kpi = models.ForeignKey("kpis.Kpi", **_UNCHECKED_FK)
    value = models.DecimalField(max_digits=20, decimal_places=2, default=0)
    points = models.DecimalField(max_digits=20, decimal_places=2, default=0)
    actions = models.IntegerField(default=0)
    # Decimals like KpiAction.value; null when the row has no action (all voided).
    low = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    high = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)

    class Meta:
        abstract = True


class _DaySums(_Sums):
    """Non-voided actions on one KPI on one local day: the sums of their values and points, their
    count, and their lowest and highest value (K11).

    What each aggregation of K11 reads, for any scope and period, from these rows alone: ``sum``
    the sum of ``value``; ``count`` the sum of ``actions``; ``average`` the sum of ``value`` over
    the sum of ``actions`` (exact: never a mean of means); ``min`` / ``max`` the lowest ``low`` /
    highest ``high`` (null on a day without actions: ignored, as SQL's MIN and MAX do); ``last``
    from the people's rows (``DailyTotal``). ``low`` and ``high`` cannot be taken back as a sum
    can: a void recomputes them (``ratings.services.aggregates``)."""

    day = models.DateField()

    class Meta:
        abstract = True


class DailyTotal(_DaySums):
    """The non-voided actions of one person on one KPI on one local day.

    ``last_*`` is the day's latest action (K11 ``last``, a level): latest by ``occurred_at``, then
    by id, null when the row has no action. A person's ``last`` in a period is ``last_value`` of
    their row in it with the greatest ``(last_at, last_action_id)`` (not the latest ``day``: a day
    is the local date under the time zone the company had then); a team's, department's or the
    company's is the sum of their people's, read from these rows at read time (each unit's rows
    are those of the people in it now, as ``DepartmentDailyTotal`` counts them)."""

    pk = models.CompositePrimaryKey("company", "member", "kpi", "day")
    member = models.ForeignKey("orgs.Member", **_UNCHECKED_FK)
    last_value = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    last_at = models.DateTimeField(null=True, blank=True)
    last_action_id = models.BigIntegerField(null=True, blank=True)  # the tie-break of equal times

    class Meta:
        indexes = [
            # Covering, one index for every read of people's rows by KPI (issue 16): a KPI's days
            # of the whole company (a breakdown by person ordered by that KPI, a level's latest
            # values per person by DISTINCT ON, a date range's edge days of the counting KPIs) are
            # an index-only range scan, not a read of every KPI's rows of those days. A person's
            # own rows are read through the primary key.
            models.Index(
                fields=["company", "kpi", "day"],
                include=[
                    "member",
                    "value",
                    "points",
                    "actions",
                    "low",
                    "high",
                    "last_at",
                    "last_action_id",
                    "last_value",
                ],
                name="daily_total_kpi_day",
            ),
        ]


class CompanyDailyTotal(_DaySums):
    """The non-voided actions of the whole company on one KPI on one local day: what a company
    dashboard sums (D3), some thousands of rows a year instead of millions of people's rows."""

    pk = models.CompositePrimaryKey("company", "kpi", "day")


class DepartmentDailyTotal(_DaySums):
    """The non-voided actions of the people now in a department on one KPI on one local day: what
    a company dashboard's breakdown by department sums (D3) instead of every person's rows.

    A department's figures are its people's (O3), as its dashboard and leaderboard count them:
    someone who moves takes their totals to the new department (``department_totals_follow``).
    People in no department have no rows here: their share is the company's total less these."""

    # A department is deleted only after its people have moved out (orgs.services.department_delete),
    # and its rows, all zero by then, with it (ratings.apps).
    pk = models.CompositePrimaryKey("company", "department", "kpi", "day")
    department = models.ForeignKey("orgs.Department", **{**_UNCHECKED_FK, "on_delete": models.DO_NOTHING})

    class Meta:
        indexes = [
            # A breakdown reads its KPIs' days from the index alone.
            models.Index(
                fields=["company", "kpi", "day"],
                include=["department", "value", "points"],
                name="department_daily_kpi_day",
            ),
        ]


class DepartmentMonthTotal(_Sums):
    """A department's days of one KPI in one calendar month (``month``: its first day), added up:
    ``DepartmentDailyTotal`` rolled up, kept by the same upserts, voids, moves and rebuild, so
    that a company's quarter or year by department reads twelve rows per department and KPI, not
    365 (at 50 departments and 20 KPIs: 12,000 rows instead of 365,000, issue 16)."""

    pk = models.CompositePrimaryKey("company", "department", "kpi", "month")
    department = models.ForeignKey("orgs.Department", **{**_UNCHECKED_FK, "on_delete": models.DO_NOTHING})
    month = models.DateField()


class TeamMonthTotal(_Sums):
    """A team's people's actions on one KPI in one calendar month (``month``: its first day): what
    a department's breakdown by team sums, a dozen rows per team and KPI a year instead of every
    person's days (at 2,000 people a department: 2,000 rows a year, not 300,000).

    A team's figures are its people's (O3), as its dashboard counts them: someone who changes
    team takes their totals along (``team_totals_follow``). People in no team have no rows here."""

    pk = models.CompositePrimaryKey("company", "team", "kpi", "month")
    team = models.ForeignKey("orgs.Team", **{**_UNCHECKED_FK, "on_delete": models.DO_NOTHING})
    month = models.DateField()


class RatingPeriod(models.TextChoices):
    WEEK = "week", _("Week")
    MONTH = "month", _("Month")
    QUARTER = "quarter", _("Quarter")
    YEAR = "year", _("Year")
    ALL = "all", _("All time")


class RatingTotal(CompanyScopedModel):
    """A person's rating for one period (R6): the sum their leaderboard rank comes from (R7)."""

    # On PostgreSQL the key also INCLUDEs points (migrations 0004, 0009), so a unit's board and a
    # viewer's points are read from the index alone; SQLite has no covering indexes.
    pk = models.CompositePrimaryKey("company", "period", "start", "member")
    company = models.ForeignKey("orgs.Company", default=current_company_id, editable=False, **_UNCHECKED_FK)
    member = models.ForeignKey("orgs.Member", **_UNCHECKED_FK)
    period = models.CharField(max_length=8, choices=RatingPeriod)
    start = models.DateField()
    points = models.DecimalField(max_digits=20, decimal_places=2, default=0)
    # The points in cents, an integer kept by the database: what the rank index orders and counts.
    # PostgreSQL's numeric comparisons are not leakproof, so under row-level security a condition on
    # ``points`` may not be an index condition (the whole period's entries would be read and
    # filtered); integer comparisons are, so "how many have more than me" is a range of the index.
    cents = models.GeneratedField(
        expression=Cast(Round(models.F("points") * 100), models.BigIntegerField()),
        output_field=models.BigIntegerField(),
        db_persist=True,
    )

    class Meta:
        indexes = [
            # Top N and "how many are ahead of me" are both range scans of this index.
            models.Index(
                "company", "period", "start", models.F("cents").desc(), "member", name="rating_total_rank"
            ),
        ]


# The periods a person's latest value of a level KPI is kept for (``PeriodLatest``): those a
# dashboard shows (all time is not one).
LATEST_PERIODS = (RatingPeriod.WEEK, RatingPeriod.MONTH, RatingPeriod.QUARTER, RatingPeriod.YEAR)


class PeriodLatest(CompanyScopedModel):
    """A person's latest value of a level KPI (K11 ``last``) in one week, month, quarter or year:
    of their days' rows (``DailyTotal``) in it, the ``last_*`` of the one with the greatest
    ``(last_at, last_action_id)``. Kept only for KPIs whose aggregation is ``last``, by the same
    upsert as the days (later wins), recomputed from the days after a void, built or dropped when
    a KPI's aggregation changes, rebuilt by ``rebuild_ratings``; a period without an action of the
    person's has no row.

    A dashboard's level KPI in a whole period is then the sum of one row per person (a team's,
    department's or the company's people's), not a ``DISTINCT ON`` over every day row of the
    period (a year of a level KPI at 100,000 people: 500,000 rows sorted per page)."""

    # A KPI's period is a range of the key: the company's sum reads it in order, a page's people
    # are probes of its last column.
    pk = models.CompositePrimaryKey("company", "kpi", "period", "start", "member")
    company = models.ForeignKey("orgs.Company", default=current_company_id, editable=False, **_UNCHECKED_FK)
    kpi = models.ForeignKey("kpis.Kpi", **_UNCHECKED_FK)
    period = models.CharField(max_length=8, choices=RatingPeriod)
    start = models.DateField()
    member = models.ForeignKey("orgs.Member", **_UNCHECKED_FK)
    last_value = models.DecimalField(max_digits=14, decimal_places=2)
    last_at = models.DateTimeField()
    last_action_id = models.BigIntegerField()


class RatingBoard(CompanyScopedModel):
    """How many people have more than zero points in a period: the size of the company's
    leaderboard (R7), kept with the rating totals so that a board is not counted row by row."""

    period = models.CharField(max_length=8, choices=RatingPeriod)
    start = models.DateField()
    people = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["company", "period", "start"], name="rating_board_unique"),
        ]


RecalculationStatus = JobStatus


class Recalculation(CompanyScopedModel):
    """A background recalculation of a KPI's past points with its current ratio (R2), and its
    progress: ``done`` of ``total`` actions looked at."""

    kpi = models.ForeignKey("kpis.Kpi", models.PROTECT, related_name="+", verbose_name=_("KPI"))
    requested_by = models.ForeignKey(
        "orgs.Member",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=RecalculationStatus, default=RecalculationStatus.QUEUED
    )
    total = models.IntegerField(_("actions in all"), default=0)
    done = models.IntegerField(_("actions done"), default=0)
    error = models.TextField(_("error"), blank=True, default="")
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("recalculation")
        verbose_name_plural = _("recalculations")
        ordering = ["-id"]
        indexes = [models.Index(fields=["company", "kpi"], name="recalculation_company_kpi")]

    def __str__(self) -> str:
        return f"{self.kpi_id}: {self.status} ({self.done}/{self.total})"
