"""The error report of an import (PRODUCT I3): every stored row error as a spreadsheet download."""

from django.http import HttpResponse
from django.utils.translation import gettext as _

from integrations.exports import export_response
from integrations.models import ImportJob


def error_report_response(job: ImportJob, fmt: str) -> HttpResponse:
    """``row, column, message`` of each error, as ``fmt`` (csv or xlsx)."""
    rows = ([error["row"], error["column"], error["message"]] for error in job.errors)
    return export_response(f"import-{job.id}-errors", fmt, [_("row"), _("column"), _("message")], rows)
