"""Exports in the admin of KPIs and units (PRODUCT I4), for company admins only.

``KpiAdmin`` and ``UnitAdmin`` (``kpis/admin.py``) inherit these mixins next to
``CompanyModelAdmin``, whose ``is_company_admin`` and company-scoped ``get_queryset`` they rely on:

    class KpiAdmin(KpiExportMixin, CompanyModelAdmin): ...

The export is django-import-export's, in the request: a company's KPIs and units are few. Their
*import* is not here: the lists' "Import" button (``CompanyModelAdmin.import_kind``) uploads the
file as a background import job (``integrations``), which a worker runs through ``kpis.imports``
(the services, row by row), the columns these exports write. Import-export's own import views,
which ran a file inside the request, are not offered.

Formats are csv and xlsx (I4); the csv quotes every text cell, as every export of the platform does
(``kpi_platform.cells``).
"""

from django.http import HttpRequest
from import_export.admin import ExportMixin
from import_export.formats.base_formats import CSV, XLSX

from kpi_platform.cells import CSV_QUOTING
from kpis.resources import KpiResource, UnitResource


class QuotedCSV(CSV):
    """Import-export's csv, with every text cell quoted (OWASP "CSV injection"): no list separator
    a spreadsheet may use (``,``, ``;``, a tab) splits a name into a formula cell."""

    def export_data(self, dataset, **kwargs):
        kwargs.setdefault("quoting", CSV_QUOTING)
        return super().export_data(dataset, **kwargs)


class CompanyExportMixin(ExportMixin):
    """django-import-export's export for a ``CompanyModelAdmin``."""

    formats = [QuotedCSV, XLSX]
    export_formats = [QuotedCSV, XLSX]

    def has_export_permission(self, request: HttpRequest) -> bool:
        return self.is_company_admin(request)


class KpiExportMixin(CompanyExportMixin):
    resource_classes = [KpiResource]


class UnitExportMixin(CompanyExportMixin):
    resource_classes = [UnitResource]
