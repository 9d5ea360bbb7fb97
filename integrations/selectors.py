"""Reads of imports: the company's jobs and their live progress (PRODUCT I3)."""

import datetime
from collections.abc import Iterator

from django.db.models import OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from integrations.models import ImportJob, ImportStatus, IntegrationSource
from integrations.progress import progress_key
from kpi_platform.cache import cache_get
from orgs.models import Company


def import_job_list() -> QuerySet[ImportJob]:
    return ImportJob.objects.select_related("created_by__user")


def import_job_get(*, job_id: int) -> ImportJob:
    """The company's job; another company's id raises ``DoesNotExist`` (a 404) like a missing one."""
    return import_job_list().get(id=job_id)


def import_job_progress(job: ImportJob) -> tuple[int, int]:
    """``(processed_rows, total_rows)``: published by the worker while it runs, then the job's own."""
    if job.status == ImportStatus.RUNNING:
        published = cache_get(progress_key(job.id))
        if published is not None:
            return published
    return job.processed_rows, job.total_rows


def company_ids() -> list[int]:
    """Every company, for the global sweep that sends each its ``imports_resume_stale``."""
    return list(Company.objects.order_by("id").values_list("id", flat=True))


EXPORT_PAGE = 5000  # actions read per query: memory stays flat however many are exported


def action_export_header() -> list[str]:
    return [
        str(label)
        for label in (
            _("id"),
            _("occurred at"),
            _("day"),
            _("user"),
            _("person's external id"),
            _("kpi"),
            _("value"),
            _("points"),
            _("source"),
            _("external id"),
            _("comment"),
            _("voided at"),
            _("reason for voiding"),
        )
    ]


def action_export_rows(actions: QuerySet) -> Iterator[tuple]:
    """The rows of ``actions`` for ``action_export_header``, read page by page in id order (keyset
    pagination: each page is its own short query, so no cursor outlives a request's context)."""
    columns = (
        "id",
        "occurred_at",
        "day",
        "member__user__email",
        "member__external_id",
        "kpi__integration_name",
        "value",
        "points",
        "source",
        "external_id",
        "comment",
        "voided_at",
        "void_reason",
    )
    last_id = 0
    while True:
        page = list(actions.filter(id__gt=last_id).order_by("id").values_list(*columns)[:EXPORT_PAGE])
        yield from page
        if len(page) < EXPORT_PAGE:
            return
        last_id = page[-1][0]


def integration_source_list(*, now: datetime.datetime | None = None) -> QuerySet[IntegrationSource]:
    """The company's sources with their health (issue 20): the last run's id, status, start and
    records, and the records of the runs that finished in the last day. One query."""
    now = now or timezone.now()
    runs = ImportJob.objects.filter(source=OuterRef("pk")).order_by("-id")
    day = (
        ImportJob.objects.filter(
            source=OuterRef("pk"),
            status=ImportStatus.SUCCEEDED,
            finished_at__gte=now - datetime.timedelta(days=1),
        )
        .order_by()
        .values("source")
        .annotate(total=Sum("created"))
        .values("total")
    )
    return IntegrationSource.objects.annotate(
        last_run_id=Subquery(runs.values("id")[:1]),
        last_run_status=Subquery(runs.values("status")[:1]),
        last_run_at=Subquery(runs.values("created_at")[:1]),
        last_run_created=Subquery(runs.values("created")[:1]),
        day_created=Coalesce(Subquery(day), 0),
    )


def integration_source_get(*, source_id: int) -> IntegrationSource:
    return integration_source_list().get(id=source_id)


def integration_sources_failing() -> list[IntegrationSource]:
    """Enabled sources that are paused or whose last run failed, for the admins' Home."""
    return [
        source
        for source in integration_source_list().filter(enabled=True)
        if source.paused_at or source.last_run_status == ImportStatus.FAILED
    ]
