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
from django.utils.formats import date_format
from django.utils.html import escape, format_html, format_html_join
from django.utils.text import format_lazy
from django.utils.timezone import localtime
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from integrations.connectors import connector_for, kinds
from integrations.exports import FORMATS, export_response
from integrations.models import ImportJob, ImportKind, ImportStatus, IntegrationSource, PersonKey
from integrations.reports import error_report_response
from integrations.selectors import (
    action_export_header,
    action_export_rows,
    import_job_progress,
    integration_source_list,
)
from integrations.services import (
    SUPPORTED_KINDS,
    import_job_create,
    import_job_record,
    integration_source_create,
    integration_source_delete,
    integration_source_run_now,
    integration_source_update,
)
from kpi_platform.admin import CompanyModelAdmin, ServiceModelForm, admin_member
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


def _sources_link() -> dict:
    """A source's run links back to the list of sources."""
    return {
        "url": reverse("admin:integrations_integrationsource_changelist"),
        "name": IntegrationSource._meta.verbose_name_plural,
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
            "kind_list": _sources_link() if job.source_id else kind_list_link(job.kind),
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


# --- Integration sources (issue 20) ----------------------------------------------------------------


def _setting_field(kind: str, key: str) -> str:
    return f"setting_{kind}_{key}"


def _credential_field(kind: str, key: str) -> str:
    return f"credential_{kind}_{key}"


class IntegrationSourceForm(ServiceModelForm):
    """A source's form: each kind's settings and credentials as fields of their own (from its
    connector's ``settings_fields`` and ``credential_fields``), shown in the kind's fieldset; only
    the chosen kind's are saved. Credentials are write-only: never shown, kept when left empty."""

    kind = forms.ChoiceField(label=_("Kind"), choices=kinds)
    mapping_person = forms.CharField(
        label=_("Person field"), help_text=_("The record's field naming the person.")
    )
    mapping_person_key = forms.ChoiceField(label=_("The person field holds"), choices=PersonKey.choices)
    mapping_kpi = forms.CharField(
        label=_("KPI field"), required=False, help_text=_("The field holding a KPI's integration name…")
    )
    mapping_kpi_fixed = forms.CharField(
        label=_("Or one KPI"),
        required=False,
        help_text=_("…or the integration name of the KPI of every record."),
    )
    mapping_value = forms.CharField(
        label=_("Value field"), required=False, help_text=_("Leave empty to count 1 per record.")
    )
    mapping_time = forms.CharField(
        label=_("Time field"), required=False, help_text=_("Leave empty to use when the record last changed.")
    )
    mapping_filters = forms.CharField(
        label=_("Filters"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("One “field = value” a line: only records matching them all count."),
    )

    class Meta:
        model = IntegrationSource
        fields = ["name", "kind", "schedule", "enabled"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        saved = self.instance.settings or {}
        for kind, _label in kinds():
            connector = connector_for(kind)
            for key, help_text in connector.settings_fields.items():
                # The admin prints help texts as HTML: a connector's are text ("https://<portal>/…").
                self.fields[_setting_field(kind, key)] = forms.CharField(
                    label=key, required=False, help_text=escape(help_text)
                )
                if self.instance.kind == kind:
                    self.fields[_setting_field(kind, key)].initial = saved.get(key, "")
            for key, help_text in connector.credential_fields.items():
                self.fields[_credential_field(kind, key)] = forms.CharField(
                    label=key,
                    required=False,
                    strip=False,
                    widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
                    help_text=escape(
                        f"{help_text} {gettext('Stored encrypted and never shown again; empty keeps it.')}"
                    ),
                )
        mapping = self.instance.mapping or {}
        for key in ("person", "person_key", "kpi", "kpi_fixed", "value", "time"):
            self.fields[f"mapping_{key}"].initial = mapping.get(key, "")
        filters = mapping.get("filters") or []
        self.fields["mapping_filters"].initial = "\n".join(
            f"{each['field']} = {each['equals']}" for each in filters
        )

    def kind_settings(self) -> dict:
        """The chosen kind's settings that were filled in."""
        kind, data = self.cleaned_data.get("kind"), self.cleaned_data
        keys = connector_for(kind).settings_fields if kind in dict(kinds()) else {}
        given = {key: data.get(_setting_field(kind, key)) for key in keys}
        return {key: value for key, value in given.items() if value}

    def kind_credentials(self) -> dict | None:
        """The chosen kind's credentials, or None when none were typed (the saved ones are kept)."""
        kind, data = self.cleaned_data.get("kind"), self.cleaned_data
        keys = connector_for(kind).credential_fields if kind in dict(kinds()) else {}
        given = {
            key: data[_credential_field(kind, key)] for key in keys if data.get(_credential_field(kind, key))
        }
        return given or None

    def field_named(self, name: str) -> str | None:
        """The form's field for a name a service's error gives (a setting's or credential's key)."""
        kind = self.cleaned_data.get("kind")
        for field in (_setting_field(kind, name), _credential_field(kind, name)):
            if field in self.fields:
                return field
        return None

    def clean_mapping_filters(self) -> list[dict]:
        filters = []
        for line in self.cleaned_data["mapping_filters"].splitlines():
            if not line.strip():
                continue
            name, equals, value = line.partition("=")
            if not equals or not name.strip():
                raise forms.ValidationError(_("Write each filter as “field = value”."))
            filters.append({"field": name.strip(), "equals": value.strip()})
        return filters

    def mapping(self) -> dict:
        data = self.cleaned_data
        keys = ("person", "person_key", "kpi", "kpi_fixed", "value", "time", "filters")
        return {key: data[f"mapping_{key}"] for key in keys}


RECENT_RUNS = 10


def _moment(moment) -> str:
    return date_format(localtime(moment), "SHORT_DATETIME_FORMAT")


@admin.register(IntegrationSource)
class IntegrationSourceAdmin(CompanyModelAdmin):
    """Sources with their health at a glance; runs are import jobs, linked to their pages."""

    form = IntegrationSourceForm
    change_form_template = "admin/integrations/integrationsource/change_form.html"

    class Media:
        js = ["integrations/source_form.js"]

    list_display = [
        "name",
        "kind_label",
        "health",
        "last_run",
        "last_run_created",
        "day_created",
        "next_run",
        "run_button",
    ]
    actions = ["run_now"]
    readonly_fields = ["health", "last_run", "next_run", "recent_runs"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "schedule", "enabled"]}),
        (
            _("Mapping"),
            {
                "fields": [
                    "mapping_person",
                    "mapping_person_key",
                    "mapping_kpi",
                    "mapping_kpi_fixed",
                    "mapping_value",
                    "mapping_time",
                    "mapping_filters",
                ]
            },
        ),
        (_("Health"), {"fields": ["health", "last_run", "next_run", "recent_runs"]}),
    ]

    def get_queryset(self, request: HttpRequest):
        if not self.is_company_admin(request):
            return IntegrationSource.dangerously_unscoped.none()
        return integration_source_list()

    def get_form(self, request: HttpRequest, obj=None, change: bool = False, **kwargs):
        # The kinds' fields are the form's own (made in its ``__init__``), not the model's.
        kwargs["fields"] = IntegrationSourceForm.Meta.fields
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj=None):
        """The source, then a fieldset of each kind's settings and credentials (the chosen kind's
        open, the others folded), the mapping, and, once saved, its health."""
        chosen = obj.kind if obj is not None else None
        by_kind = []
        for kind, label in kinds():
            connector = connector_for(kind)
            fields = [_setting_field(kind, key) for key in connector.settings_fields]
            fields += [_credential_field(kind, key) for key in connector.credential_fields]
            # Folded; static/integrations/source_form.js opens the chosen kind's (the saved kind's
            # is open without JavaScript too).
            classes = [f"source-kind-{kind}"] if kind == chosen else ["collapse", f"source-kind-{kind}"]
            title = format_lazy("{}: {}", _("Settings"), label)
            by_kind.append((title, {"fields": fields, "classes": classes}))
        source, mapping, health = self.fieldsets
        return [source, *by_kind, mapping, *([health] if obj is not None else [])]

    @admin.display(description=_("kind"))
    def kind_label(self, source: IntegrationSource) -> str:
        return dict(kinds()).get(source.kind, source.kind)

    @admin.display(description=_("status"))
    def health(self, source: IntegrationSource) -> str:
        if source.paused_at:
            return gettext("Paused: %(reason)s") % {"reason": source.pause_reason}
        if not source.enabled:
            return gettext("Off")
        if source.last_run_status is None:
            return gettext("Not run yet")
        return ImportStatus(source.last_run_status).label

    @admin.display(description=_("last run"))
    def last_run(self, source: IntegrationSource) -> str:
        if source.last_run_id is None:
            return "—"
        url = reverse("admin:integrations_importjob_change", args=[source.last_run_id])
        return format_html('<a href="{}">{}</a>', url, _moment(source.last_run_at))

    @admin.display(description=_("records in the last run"))
    def last_run_created(self, source: IntegrationSource) -> int | str:
        return "—" if source.last_run_id is None else source.last_run_created

    @admin.display(description=_("records in the last day"))
    def day_created(self, source: IntegrationSource) -> int:
        return source.day_created

    @admin.display(description=_("next run"))
    def next_run(self, source: IntegrationSource) -> str:
        if not source.enabled or source.paused_at:
            return "—"
        return (
            source.next_run_at.strftime("%Y-%m-%d %H:%M")
            if source.next_run_at
            else gettext("Within a minute")
        )

    @admin.display(description=_("run"))
    def run_button(self, source: IntegrationSource) -> str:
        """ "Run now" on each row: the list's own form (its CSRF token) posted to the run's URL."""
        url = reverse("admin:integrations_integrationsource_run", args=[source.pk])
        return format_html(
            '<button type="submit" class="button" formaction="{}" formmethod="post">{}</button>',
            url,
            _("Run now"),
        )

    @admin.display(description=_("recent runs"))
    def recent_runs(self, source: IntegrationSource) -> str:
        """The last runs, each a link to its import page, with its status and records."""
        runs = source.runs.order_by("-id")[:RECENT_RUNS]
        items = format_html_join(
            "",
            '<li><a href="{}">{}</a>: {}, {}</li>',
            (
                (
                    reverse("admin:integrations_importjob_change", args=[run.pk]),
                    _moment(run.created_at),
                    run.get_status_display(),
                    ngettext("%(n)d record", "%(n)d records", run.created) % {"n": run.created},
                )
                for run in runs
            ),
        )
        return format_html('<ul class="integrations-runs">{}</ul>', items) if items else "—"

    def save_via_services(self, request: HttpRequest, form: IntegrationSourceForm, change: bool):
        data = form.cleaned_data
        fields = {name: data[name] for name in ("name", "kind", "schedule", "enabled")}
        fields["settings"] = form.kind_settings()
        if change:
            source = IntegrationSource.objects.get(pk=form.instance.pk)
            kept = source.kind == fields["kind"]  # another kind's saved credentials are not its own
            credentials = form.kind_credentials() if kept else form.kind_credentials() or {}
            return integration_source_update(
                source=source, credentials=credentials, mapping=form.mapping(), **fields
            )
        return integration_source_create(
            credentials=form.kind_credentials() or {},
            mapping=form.mapping(),
            actor=admin_member(request),
            **fields,
        )

    def delete_model(self, request: HttpRequest, obj: IntegrationSource) -> None:
        integration_source_delete(source=obj)

    def get_urls(self):
        run = self.admin_site.admin_view(self.run_view)
        return [
            path("<path:object_id>/run/", run, name="integrations_integrationsource_run"),
            *super().get_urls(),
        ]

    def run_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """ "Run now" from the source's page: queue a run and open its page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            raise PermissionDenied
        source = self.get_object(request, unquote(object_id))
        if source is None:
            raise Http404
        job = integration_source_run_now(source=source)
        return HttpResponseRedirect(reverse("admin:integrations_importjob_change", args=[job.pk]))

    @admin.action(description=_("Run the selected sources now"))
    def run_now(self, request: HttpRequest, queryset) -> None:
        for source in queryset:
            integration_source_run_now(source=source)
        self.message_user(request, gettext("Runs were queued; their results are among the imports."))
