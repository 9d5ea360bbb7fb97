"""Import and export in the admin of KPIs and units (PRODUCT I3, I4), for company admins only.

``KpiAdmin`` and ``UnitAdmin`` (``kpis/admin.py``) inherit these mixins next to
``CompanyModelAdmin``, whose ``is_company_admin`` and company-scoped ``get_queryset`` they rely on:

    class KpiAdmin(KpiImportExportMixin, CompanyModelAdmin): ...

What the resources (``kpis/resources.py``) do not already guarantee, the admin views add here:

* Only the company's admins may import or export (``has_import_permission``/``has_export_permission``).
* The rows are written by services with the admin as the actor of the history (K10), so no
  ``LogEntry`` is written (``skip_admin_log``): the history is the record, and LogEntry is global.
* Import-export's confirm step imports with ``rollback_on_validation_errors`` off and then always
  redirects with "Import finished". Here a file that became invalid between the preview and the
  confirmation (another admin's change) is rolled back (the resource insists) and its errors are
  shown again, as in the preview, instead of a success message.
* Formats are csv and xlsx (I3, I4).
"""

from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportMixin
from import_export.formats.base_formats import CSV, XLSX

from kpi_platform.admin import admin_member
from kpis.resources import KpiResource, UnitResource


class CompanyImportExportMixin(ImportExportMixin):
    """django-import-export for a ``CompanyModelAdmin`` whose rows are written by services."""

    formats = [CSV, XLSX]
    import_formats = [CSV, XLSX]
    export_formats = [CSV, XLSX]
    skip_admin_log = True

    def _may_import_export(self, request: HttpRequest) -> bool:
        is_company_admin = getattr(self, "is_company_admin", None)
        if is_company_admin is not None:
            return is_company_admin(request)
        return admin_member(request) is not None

    def has_import_permission(self, request: HttpRequest) -> bool:
        return self._may_import_export(request)

    def has_export_permission(self, request: HttpRequest) -> bool:
        return self._may_import_export(request)

    def get_resource_kwargs(self, request: HttpRequest, *args, **kwargs) -> dict:
        # Not import-export's default (the view's kwargs, the form among them): the resource
        # needs only who is acting, for the history of every change (K10).
        return {"actor": admin_member(request)}

    def process_result(self, result, request: HttpRequest):
        if not (result.has_errors() or result.has_validation_errors()):
            return super().process_result(result, request)
        # Nothing was written (the resource rolled the file back): show why, as the preview does.
        resource_classes = self.get_import_resource_classes(request)
        form = self.get_import_form_class(request)(self.get_import_formats(), resource_classes)
        resource = resource_classes[0](**self.get_import_resource_kwargs(request))
        context = self.get_import_context_data()
        context.update(self.admin_site.each_context(request))
        context.update(
            {
                "title": _("Import"),
                "form": form,
                "opts": self.model._meta,
                "media": self.media + form.media,
                "result": result,
                "fields_list": [
                    (resource.get_display_name(), [f.column_name for f in resource.get_user_visible_fields()])
                ],
                "import_error_display": self.import_error_display,
            }
        )
        request.current_app = self.admin_site.name
        return TemplateResponse(request, [self.import_template_name], context)


class KpiImportExportMixin(CompanyImportExportMixin):
    resource_classes = [KpiResource]


class UnitImportExportMixin(CompanyImportExportMixin):
    resource_classes = [UnitResource]
