"""Export of KPI definitions and units as spreadsheets (PRODUCT I4), with django-import-export, in
the admin (``kpis.admin_export``). The columns are the import's (``kpis.imports``), so an exported
file imports again changing nothing; a file is imported by ``kpis.imports``, through the services,
never by these resources.

Exported text cells that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab,
carriage return first, or after a list separator) get an apostrophe (OWASP "CSV injection"), the
escape of every export (``kpi_platform.cells``); an import removes that apostrophe again. Import-export's
``IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT`` is not used: it only deletes a leading ``=`` (losing
data, so no round trip) and turns every cell into text.
"""

from collections import OrderedDict
from decimal import Decimal

from import_export import resources
from import_export.fields import Field

from kpi_platform.cells import escape_formula
from kpis.imports import KPI_COLUMNS, LANGUAGES, UNIT_COLUMNS
from kpis.models import Kpi, Unit
from orgs.models import Company
from orgs.tenancy import current_company_id


class CompanyResource(resources.ModelResource):
    """The export of a model of the request's company: subclasses name their ``columns`` and
    implement ``cell``."""

    columns: tuple[str, ...] = ()

    class Meta:
        fields = ()  # no automatic model fields: ``columns`` are declared in ``__init__``

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.fields = OrderedDict((column, Field(column_name=column)) for column in self.columns)
        self._company: Company | None = None

    @property
    def company(self) -> Company:
        if self._company is None or self._company.id != current_company_id():
            self._company = Company.objects.get(id=current_company_id())
        return self._company

    def import_data(self, *args, **kwargs):
        raise NotImplementedError("A file is imported by kpis.imports, through the services.")

    def export_field(self, field, instance, **kwargs):
        value = self.cell(field.column_name, instance, native=bool(kwargs.get("force_native_type")))
        if isinstance(value, str) and kwargs.get("force_native_type"):
            from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

            value = ILLEGAL_CHARACTERS_RE.sub("\N{REPLACEMENT CHARACTER}", value)
        return escape_formula(value)

    def _localized_cell(self, instance, column: str) -> str:
        _field, language = column.rsplit("_", 1)
        if language not in self.company.languages:
            return ""  # not the company's: it would not import again (language_invalid)
        return getattr(instance, column, None) or ""

    def cell(self, column: str, instance, *, native: bool):
        raise NotImplementedError


class UnitResource(CompanyResource):
    """Units (K3): ``id``, ``name_<language>`` and ``decimals``."""

    columns = UNIT_COLUMNS

    class Meta(CompanyResource.Meta):
        model = Unit
        name = "Units"

    def get_queryset(self):
        return Unit.objects.all()

    def cell(self, column, unit, *, native):
        if column == "id":
            return unit.pk
        if column == "decimals":
            return unit.decimals if native else str(unit.decimals)
        return self._localized_cell(unit, column)


class KpiResource(CompanyResource):
    """KPIs (K1, K2, K4–K9): a unit by its name, a department and a team by theirs, an owner by
    e-mail, as the import reads them."""

    columns = KPI_COLUMNS

    class Meta(CompanyResource.Meta):
        model = Kpi
        name = "KPIs"

    def get_queryset(self):
        return Kpi.objects.all()

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("unit", "department", "team", "owner__user")

    def cell(self, column, kpi, *, native):
        if column == "id":
            return kpi.pk
        if column.startswith(("name_", "description_")):
            return self._localized_cell(kpi, column)
        if column == "unit":
            return self._unit_name(kpi.unit) if kpi.unit_id else ""
        if column == "in_rating":
            return kpi.in_rating if native else ("true" if kpi.in_rating else "false")
        if column == "rating_units":
            units = Decimal(kpi.rating_units)
            return units if native else str(units)
        if column == "rating_points":
            return kpi.rating_points
        if column in ("threshold_green", "threshold_amber"):
            threshold = Decimal(getattr(kpi, column))
            return threshold if native else str(threshold)
        if column in ("department", "team"):
            related = getattr(kpi, column) if getattr(kpi, f"{column}_id") else None
            return related.name if related is not None else ""
        if column == "owner":
            return kpi.owner.user.email if kpi.owner_id else ""
        return getattr(kpi, column) or ""

    def _unit_name(self, unit: Unit) -> str:
        """In the company's default language (any name matches on import)."""
        company = self.company
        for language in [company.default_language, *company.languages, *LANGUAGES]:
            name = getattr(unit, f"name_{language}", None)
            if name:
                return name
        return ""
