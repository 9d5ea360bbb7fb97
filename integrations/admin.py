"""Imports in the admin (PRODUCT I3), for company admins: upload a file, watch the worker's progress,
read the result, download the error report, and record a file that passed a check.

The upload answers at once with the job's page; the page polls a small fragment (htmx, served
from static) until the job is finished, then shows the counts and the first errors. Jobs are
written only by ``integrations.services``; this admin never changes one itself.
"""

from django import forms
from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from integrations.exports import FORMATS, export_response
from integrations.models import ImportJob, ImportKind
from integrations.reports import error_report_response
from integrations.selectors import action_export_header, action_export_rows, import_job_progress
from integrations.services import SUPPORTED_KINDS, import_job_create, import_job_record
from kpi_platform.admin import CompanyModelAdmin, admin_member
from kpi_platform.errors import DomainError

PAGE_ERRORS = 20  # the first errors on the page; every one in the report
# The admin list whose "Import" button uploads each kind of file, linked back to from the upload
# and the job's pages.
KIND_MODELS = {
    ImportKind.ACTIONS: "ratings.KpiAction",
    ImportKind.MEMBERS: "orgs.Member",
    ImportKind.KPIS: "kpis.Kpi",
    ImportKind.UNITS: "kpis.Unit",
}


def kind_list_link(kind: str) -> dict | None:
    """The URL and name of the admin list of what a kind of file holds."""
    if kind not in KIND_MODELS:
        return None
    opts = apps.get_model(KIND_MODELS[kind])._meta
    return {
        "url": reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
        "name": opts.verbose_name_plural,
    }


class ImportUploadForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("The file holds"),
        choices=[(kind.value, kind.label) for kind in SUPPORTED_KINDS],
        initial=ImportKind.ACTIONS,
    )
    file = forms.FileField(label=_("File"), help_text=_("An .xlsx or a .csv (UTF-8) file with a header row."))
    dry_run = forms.BooleanField(
        label=_("Check only"),
        required=False,
        initial=True,
        help_text=_("Check every row and record nothing; you can record the file after the check."),
    )


@admin.register(ImportJob)
class ImportJobAdmin(CompanyModelAdmin):
    list_display = [
        "file_name",
        "kind",
        "status",
        "dry_run",
        "created",
        "duplicates",
        "error_count",
        "created_at",
    ]
    list_filter = ["kind", "status"]
    list_select_related = ["created_by__user"]

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # a job is the worker's record: read it, never edit it

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_urls(self):
        def view(function):
            return self.admin_site.admin_view(function)

        return [
            path(
                "<path:object_id>/progress/", view(self.progress_view), name="integrations_importjob_progress"
            ),
            path(
                "<path:object_id>/errors.<str:fmt>",
                view(self.error_report_view),
                name="integrations_importjob_errors",
            ),
            path("<path:object_id>/record/", view(self.record_view), name="integrations_importjob_record"),
            *super().get_urls(),
        ]

    def _job(self, request: HttpRequest, object_id: str) -> ImportJob:
        """The admin's company's job; another company's, or none, is a 404."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = self.get_object(request, unquote(object_id))
        if job is None:
            raise Http404
        return job

    def _context(self, request: HttpRequest, job: ImportJob) -> dict:
        processed, total = import_job_progress(job)
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "job": job,
            "title": job.file_name,
            "subtitle": None,
            "processed": processed,
            "total": total,
            "page_errors": job.errors[:PAGE_ERRORS],
            "more_errors": job.error_count - min(job.error_count, PAGE_ERRORS),
            "kind_list": kind_list_link(job.kind),
        }

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        kind = request.GET.get("kind", "")
        initial = {"kind": kind if kind in ImportKind.values else ImportKind.ACTIONS}
        form = ImportUploadForm(request.POST or None, request.FILES or None, initial=initial)
        if form.is_bound and form.is_valid():
            try:
                job = import_job_create(actor=admin_member(request), **form.cleaned_data)
            except DomainError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                return HttpResponseRedirect(reverse("admin:integrations_importjob_change", args=[job.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Import a file"),
            "subtitle": None,
            "form": form,
            "media": self.media + form.media,
            "kind_list": kind_list_link(kind),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/integrations/importjob/add.html", context)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        job = self._job(request, object_id)
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/integrations/importjob/job.html", self._context(request, job))

    def progress_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        job = self._job(request, object_id)
        return TemplateResponse(request, "integrations/job_status.html", self._context(request, job))

    def error_report_view(self, request: HttpRequest, object_id: str, fmt: str) -> HttpResponse:
        job = self._job(request, object_id)
        if fmt not in FORMATS:
            raise Http404
        return error_report_response(job, fmt)

    def record_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Record the file of a successful check as a new job (a POST from the job's page)."""
        job = self._job(request, object_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_add_permission(request):
            raise PermissionDenied
        try:
            job = import_job_record(job=job, actor=admin_member(request))
        except DomainError as error:
            self.message_user(request, error.message, messages.ERROR)
        return HttpResponseRedirect(reverse("admin:integrations_importjob_change", args=[job.pk]))


# --- Exports of KPI actions (PRODUCT I4) -----------------------------------------------------------
# Actions of the KPI action list, which belongs to ratings (``kpi_platform.hooks.admin_actions``).
# Its queryset is already the admin's company's.


@admin.action(description=_("Export selected actions to xlsx"))
def export_actions_xlsx(model_admin, request: HttpRequest, queryset) -> HttpResponse:
    return export_response("kpi-actions", "xlsx", action_export_header(), action_export_rows(queryset))


@admin.action(description=_("Export selected actions to csv"))
def export_actions_csv(model_admin, request: HttpRequest, queryset) -> HttpResponse:
    return export_response("kpi-actions", "csv", action_export_header(), action_export_rows(queryset))
