"""Exports in the admin of KPIs and units (PRODUCT I4), for company admins only.

``KpiAdmin`` and ``UnitAdmin`` (``kpis/admin.py``) inherit these mixins next to
``CompanyModelAdmin``, whose ``is_company_admin`` and company-scoped ``get_queryset`` they rely on:

    class KpiAdmin(KpiExportMixin, CompanyModelAdmin): ...

The export is django-import-export's, in the request: a company's KPIs and units are few. Their
*import* is not here: the lists' "Import" button (``CompanyModelAdmin.import_kind``) uploads the
file as a background import job (``integrations``), which a worker runs through ``kpis.imports``
(the services, row by row), the columns these exports write. Import-export's own import views,
which ran a file inside the request, are not offered.

Formats are csv and xlsx (I4).
"""

from django.http import HttpRequest
from import_export.admin import ExportMixin
from import_export.formats.base_formats import CSV, XLSX

from kpis.resources import KpiResource, UnitResource


class CompanyExportMixin(ExportMixin):
    """django-import-export's export for a ``CompanyModelAdmin``."""

    formats = [CSV, XLSX]
    export_formats = [CSV, XLSX]

    def has_export_permission(self, request: HttpRequest) -> bool:
        return self.is_company_admin(request)


class KpiExportMixin(CompanyExportMixin):
    resource_classes = [KpiResource]


class UnitExportMixin(CompanyExportMixin):
    resource_classes = [UnitResource]
