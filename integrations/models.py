"""Background spreadsheet imports (PRODUCT I3): the job a worker runs, with its progress and result."""

import datetime

from django.db import models
from django.utils.translation import gettext_lazy as _

from kpi_platform.models import JobStatus
from orgs.tenancy import CompanyScopedModel


class ImportKind(models.TextChoices):
    ACTIONS = "actions", _("KPI actions")
    MEMBERS = "members", _("People")
    KPIS = "kpis", _("KPI definitions")
    UNITS = "units", _("Units of measurement")  # the admin's only: API.md's imports have the first three


ImportStatus = JobStatus


FINISHED = (ImportStatus.SUCCEEDED, ImportStatus.FAILED)


class ImportJob(CompanyScopedModel):
    """One uploaded file and what became of it.

    ``errors`` holds every row error found (up to ``settings.IMPORT_MAX_STORED_ERRORS``), each
    ``{"row", "column", "message"}`` with ``row`` the spreadsheet's row number (the header is row 1)
    and ``None`` for a problem of the whole file. ``error_count`` counts them all.
    """

    kind = models.CharField(_("kind"), max_length=8, choices=ImportKind, default=ImportKind.ACTIONS)
    status = models.CharField(_("status"), max_length=16, choices=ImportStatus, default=ImportStatus.QUEUED)
    dry_run = models.BooleanField(
        _("check only"), default=False, help_text=_("Check every row and record nothing.")
    )
    file = models.FileField(_("file"), upload_to="imports/%Y/%m/", blank=True)  # none for a source's run
    # The integration source whose run this is (issue 20); its errors name records, not rows.
    source = models.ForeignKey(
        "IntegrationSource",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="runs",
        verbose_name=_("integration source"),
    )
    file_name = models.CharField(_("file name"), max_length=255)
    file_size = models.BigIntegerField(_("file size"), default=0)
    # The file's SHA-256: external ids of rows without one are derived from it (R4).
    file_sha256 = models.CharField(max_length=64, editable=False)
    # The uploader's interface language: the worker writes the row errors in it.
    language = models.CharField(max_length=16, blank=True, editable=False)
    created_by = models.ForeignKey(
        "orgs.Member", models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("uploaded by")
    )
    total_rows = models.IntegerField(_("rows"), default=0)
    processed_rows = models.IntegerField(_("rows processed"), default=0)
    created = models.IntegerField(_("created"), default=0)
    duplicates = models.IntegerField(_("duplicates"), default=0)
    errors = models.JSONField(_("errors"), default=list, blank=True)
    error_count = models.IntegerField(_("errors in all"), default=0)
    attempts = models.IntegerField(_("attempts"), default=0)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["company", "status"], name="import_company_status"),
            models.Index(fields=["company", "source", "-id"], name="import_company_source"),
        ]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.get_status_display()})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class Schedule(models.IntegerChoices):
    """How often an integration source runs (its minutes)."""

    EVERY_5_MINUTES = 5, _("Every 5 minutes")
    EVERY_15_MINUTES = 15, _("Every 15 minutes")
    HOURLY = 60, _("Hourly")
    EVERY_6_HOURS = 360, _("Every 6 hours")
    DAILY = 1440, _("Daily")


class PersonKey(models.TextChoices):
    EMAIL = "email", _("E-mail")
    EXTERNAL_ID = "external_id", _("External id")


class IntegrationSource(CompanyScopedModel):
    """An external system a worker pulls KPI actions from (issue 20); each run is an ``ImportJob``.

    ``kind`` names a connector (``integrations.connectors.kinds()``, checked by the services, so a
    kind can be added without a migration). ``settings`` are the connector's non-secret settings;
    ``credentials`` its secret ones, encrypted (``integrations.crypto``) and never shown again.
    ``mapping`` says how a record becomes an action: ``person`` (a field, ``person_key`` says
    whether it holds an e-mail or an external id), ``kpi`` (a field holding a KPI's integration
    name) or ``kpi_fixed`` (one KPI's integration name), ``value`` (a field; empty: 1 per record),
    ``time`` (a field; empty: the record's own update time) and ``filters`` (``[{"field", "equals"}]``,
    all of which a record must match to count). ``cursor`` is where the next run starts; a run
    stores it only when it commits.
    """

    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=32)
    settings = models.JSONField(_("settings"), default=dict, blank=True)
    credentials = models.TextField(editable=False, blank=True)  # Fernet token of a JSON object
    mapping = models.JSONField(_("mapping"), default=dict, blank=True)
    schedule = models.IntegerField(_("schedule"), choices=Schedule, default=Schedule.HOURLY)
    enabled = models.BooleanField(_("enabled"), default=True)
    paused_at = models.DateTimeField(_("paused"), null=True, blank=True, editable=False)
    pause_reason = models.CharField(_("why paused"), max_length=255, blank=True, editable=False)
    cursor = models.TextField(_("cursor"), blank=True, editable=False)
    next_run_at = models.DateTimeField(_("next run"), null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        "orgs.Member", models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("created by")
    )

    class Meta:
        verbose_name = _("integration source")
        verbose_name_plural = _("integration sources")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "name"], name="integration_source_company_name")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def interval(self):
        return datetime.timedelta(minutes=self.schedule)
