"""Reads of imports: the company's jobs and their live progress (PRODUCT I3)."""

from collections.abc import Iterator

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from integrations.models import ImportJob, ImportStatus
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
