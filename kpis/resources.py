"""Import and export of KPI definitions and units as spreadsheets (PRODUCT I3, I4), with
django-import-export.

Import-export reads the file, runs every row in a savepoint, shows the preview (a dry run) and the
row errors; these resources decide what a row means and write it **only through the services**
(``unit_create``/``unit_update``, ``kpi_create``/``kpi_update``), so a file obeys exactly the rules
of the admin form and the API (STYLE section 4):

* Every lookup goes through the company-scoped managers (``Kpi.objects``, ``Unit.objects``, ...):
  another company's id, unit, department or person is "not found" / "unknown", never matched.
* A service's ``DomainError`` (each of its entries) becomes the row's validation error, keyed by the
  column (``name.ru`` → ``name_ru``), so the result page lists row, column and message.
* A file is all-or-nothing: ``import_data`` always rolls back when any row is invalid. The dry run
  runs the same services in a transaction that is rolled back, so it shows the same errors.
* A row that would change nothing is reported as skipped and writes nothing, so a file that was
  just exported imports again cleanly.

Exported text cells that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab,
carriage return first) get a leading apostrophe (OWASP "CSV injection"), the escape of every export
(``kpi_platform.cells``); an import removes that apostrophe again. Import-export's
``IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT`` is not used: it only deletes a leading ``=`` (losing
data, so no round trip) and turns every cell into text.
"""

from collections import OrderedDict
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from import_export import resources
from import_export.fields import Field
from import_export.resources import Diff
from import_export.results import RowResult

from kpi_platform.cells import escape_formula, unescape_formula
from kpi_platform.errors import DomainError
from kpi_platform.rehearsal import rehearse
from kpis import services
from kpis.history import snapshot
from kpis.models import (
    Category,
    Direction,
    Kpi,
    KpiKind,
    KpiStatus,
    Level,
    Measure,
    Perspective,
    Timing,
    Unit,
    UnitName,
)
from orgs.models import Company, Department, Member, Team
from orgs.tenancy import current_company_id

LANGUAGES = [code for code, _name in settings.LANGUAGES]


def _text(value) -> str:
    """A cell as text: empty for nothing, numbers as written, the formula escape undone."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unescape_formula(value if isinstance(value, str) else str(value))


class _Unchanged(Exception):
    """Rolls back the savepoint of a row that would change nothing."""


class _RowDiff(Diff):
    """Import-export's preview diff, with the cells as the export writes them (its own reads the
    fields' attributes, which these resources do not use)."""

    def __init__(self, resource, instance, new):
        super().__init__(resource, instance, new)
        self.left = self._cells(resource, instance)

    def compare_with(self, resource, instance):
        self.right = self._cells(resource, instance)

    @staticmethod
    def _cells(resource, instance) -> list:
        if instance is None:
            return []
        return [resource.export_field(field, instance) for field in resource.get_import_fields()]


class CompanyResource(resources.ModelResource):
    """A resource of the request's company whose rows are written by services.

    Subclasses name their ``columns`` and implement ``read_row`` (the row's target and the service
    arguments it gives) and ``write_row`` (the service call), and ``cell`` for the export.
    """

    columns: tuple[str, ...] = ()
    history_fields: tuple[str, ...] = ()

    class Meta:
        fields = ()  # no automatic model fields: ``columns`` are declared in ``__init__``
        use_transactions = True
        clean_model_instances = False
        skip_unchanged = False
        report_skipped = True

    def __init__(self, *, actor: Member | None = None, **kwargs):
        super().__init__(**kwargs)
        self.actor = actor
        # Fields without an attribute: import-export never sets a model attribute itself.
        self.fields = OrderedDict((column, Field(column_name=column)) for column in self.columns)
        self._company: Company | None = None
        self._touched: dict[int, int] = {}  # pk of a row's target → the row that changed it
        self._file_problems: dict[str, list[str]] = {}
        self._row_number: int | None = None
        self._row_unchanged = False

    @property
    def noun(self) -> str:
        return str(self._meta.model._meta.verbose_name)

    @property
    def company(self) -> Company:
        if self._company is None or self._company.id != current_company_id():
            self._company = Company.objects.get(id=current_company_id())
        return self._company

    @classmethod
    def get_diff_class(cls):
        return _RowDiff

    # --- Import: the file ------------------------------------------------------------------------

    def import_data(self, dataset, dry_run=False, raise_errors=False, use_transactions=None, **kwargs):
        # All-or-nothing (I3): any invalid row rolls the whole file back, whoever calls this.
        kwargs["rollback_on_validation_errors"] = True
        return super().import_data(
            dataset, dry_run=dry_run, raise_errors=raise_errors, use_transactions=use_transactions, **kwargs
        )

    def before_import(self, dataset, **kwargs):
        """Headers are case-insensitive. An unknown or repeated column refuses the file (ignoring a
        misspelt column would import something other than what was meant); the problem is shown
        on the first row, as a row error, and so rolls everything back like any other."""
        self._touched, self._file_problems = {}, {}
        headers = [_text(header).strip().lower() for header in dataset.headers or []]
        blank = [index for index, header in enumerate(headers) if not header]
        for index in blank:
            if any(_text(row[index]).strip() for row in dataset):
                self._add(
                    self._file_problems,
                    NON_FIELD_ERRORS,
                    _("Column %(n)d has values but no header.") % {"n": index + 1},
                )
        for position, index in enumerate(blank):
            headers[index] = f"__blank_{position}"
        dataset.headers = headers
        for position in range(len(blank)):
            del dataset[f"__blank_{position}"]
        headers = dataset.headers or []
        for header in headers:
            if header not in self.columns:
                self._add(
                    self._file_problems,
                    header,
                    _("Unknown column. The columns are: %(columns)s.") % {"columns": ", ".join(self.columns)},
                )
            elif headers.count(header) > 1 and header not in self._file_problems:
                self._add(self._file_problems, header, _("This column appears more than once."))

    def after_import(self, dataset, result, **kwargs):
        """Not ModelResource's: it resets the id sequence to the largest id it can see, and under
        row-level security that is this company's largest, not the table's. Services never write
        ids from a file, so there is nothing to reset."""

    # --- Import: one row -------------------------------------------------------------------------

    def import_row(self, row, instance_loader, **kwargs):
        self._row_unchanged = False
        if not self._file_problems and not any(_text(value).strip() for value in row.values()):
            row_result = self.get_row_result_class()()
            row_result.import_type = RowResult.IMPORT_TYPE_SKIP  # a blank line
            return row_result
        row_result = super().import_row(row, instance_loader, **kwargs)
        if self._row_unchanged and row_result.import_type == RowResult.IMPORT_TYPE_UPDATE:
            row_result.import_type = RowResult.IMPORT_TYPE_SKIP
        return row_result

    def get_or_init_instance(self, instance_loader, row):
        """The row's target, found through company-scoped managers only (``read_row``)."""
        problems, self._file_problems = self._file_problems, {}
        values = {column: _text(value) for column, value in row.items() if column in self.columns}
        target, fields = self.read_row(values, problems)
        instance = target if target is not None else self.init_instance(row)
        if target is not None:
            earlier = self._touched.get(target.pk)
            if earlier is not None and earlier != self._row_number:
                self._add(
                    problems,
                    "id" if values.get("id", "").strip() else self.key_column,
                    _("Row %(row)s already changes this %(noun)s.") % {"row": earlier, "noun": self.noun},
                )
            else:
                self._touched[target.pk] = self._row_number
        instance._import = (fields, problems)
        return instance, target is None

    def before_import_row(self, row, **kwargs):
        self._row_number = kwargs.get("row_number")

    def import_instance(self, instance, row, **kwargs):
        """Nothing to set: the service call in ``save_instance`` does the writing."""

    def save_instance(self, instance, is_create, row, **kwargs):
        fields, problems = instance._import
        if problems:
            # Collect the service's own errors for the columns that could be read, so the row
            # lists every problem at once; then nothing is written.
            for column, messages in self._rehearse(instance, is_create, fields).items():
                if column not in problems:
                    problems[column] = messages
            raise ValidationError(problems)
        before = None if is_create else snapshot(instance, self.history_fields)
        try:
            with transaction.atomic():
                saved = self.write_row(instance if not is_create else None, fields)
                if before is not None and snapshot(saved, self.history_fields) == before:
                    raise _Unchanged
        except _Unchanged:
            self._row_unchanged = True
            self._refresh(instance)
            return
        except DomainError as error:
            raise ValidationError(self._by_column(error)) from error
        if saved is not instance:
            instance.__dict__.update(saved.__dict__)
        self._touched[instance.pk] = self._row_number

    def _rehearse(self, instance, is_create, fields) -> dict[str, list[str]]:
        try:
            rehearse(lambda: self.write_row(instance if not is_create else None, fields))
        except DomainError as error:
            return self._by_column(error)
        finally:
            if not is_create:
                self._refresh(instance)
        return {}

    def _refresh(self, instance) -> None:
        """A service changes the object it is given before the savepoint rolls back: re-read it."""
        instance.refresh_from_db()

    def _by_column(self, error: DomainError) -> dict[str, list[str]]:
        problems: dict[str, list[str]] = {}
        for each in error.errors:
            column = (each.field or "").replace(".", "_")
            self._add(problems, column if column in self.columns else NON_FIELD_ERRORS, each.message)
        return problems

    @staticmethod
    def _add(problems: dict[str, list[str]], column: str, message: str) -> None:
        problems.setdefault(column, []).append(message)

    def _localized(self, values: dict[str, str], field: str, *, creating: bool) -> dict[str, str] | None:
        """``{language: text}`` for a service from the ``<field>_<language>`` columns present.

        An empty cell clears that language; in a language the company has not enabled only a
        value is passed on, for the service to refuse (``language_invalid``).
        """
        given = {}
        for language in LANGUAGES:
            column = f"{field}_{language}"
            if column not in values:
                continue
            value = values[column]
            if language in self.company.languages or value.strip():
                given[language] = value
        if not given and not creating:
            return None
        return given

    def _find_by_id(self, values, problems, queryset):
        raw = values.get("id", "").strip()
        if not raw:
            return None
        try:
            pk = int(raw)
        except ValueError:
            self._add(problems, "id", _("Expected a whole number."))
            return None
        found = queryset.filter(pk=pk).first()  # company-scoped: another company's id is not found
        if found is None:
            message = _("Not found: this company has no %(noun)s with the id %(id)s.")
            self._add(problems, "id", message % {"noun": self.noun, "id": pk})
        return found

    # --- Export ----------------------------------------------------------------------------------

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

    # --- For subclasses ----------------------------------------------------------------------------

    key_column = "id"

    def read_row(self, values: dict[str, str], problems: dict[str, list[str]]):
        raise NotImplementedError

    def write_row(self, target, fields: dict):
        raise NotImplementedError

    def cell(self, column: str, instance, *, native: bool):
        raise NotImplementedError


# --- Units (K3) ------------------------------------------------------------------------------------


class UnitResource(CompanyResource):
    """Columns ``id`` (optional: the unit to change) and ``name_<language>``.

    Without an id, a row that has the name of one existing unit in the same language
    (case-insensitively) changes that unit; otherwise it creates one. So a file imported twice
    changes, instead of failing on names taken by its own first import.
    """

    columns = ("id", *(f"name_{language}" for language in LANGUAGES))
    history_fields = tuple(f"name_{language}" for language in LANGUAGES)

    class Meta(CompanyResource.Meta):
        model = Unit
        name = "Units"

    def get_queryset(self):
        return Unit.objects.all()

    def read_row(self, values, problems):
        unit = self._find_by_id(values, problems, Unit.objects.all())
        id_given = bool(values.get("id", "").strip())
        names = self._localized(values, "name", creating=unit is None)
        if unit is None and not id_given and names:
            unit = self._same_names(names)
        return unit, {"name": names}

    @staticmethod
    def _same_names(names: dict[str, str]) -> Unit | None:
        """The one unit that has one of the row's names in the same language, if there is one."""
        matches = set()
        for language, value in names.items():
            if value.strip():
                key = services.name_key(value)
                for unit in Unit.objects.filter(**{f"name_{language}__iexact": value.strip()}):
                    if services.name_key(getattr(unit, f"name_{language}")) == key:
                        matches.add(unit)
        return matches.pop() if len(matches) == 1 else None

    def write_row(self, target, fields):
        if target is None:
            return services.unit_create(name=fields["name"] or {}, actor=self.actor)
        return services.unit_update(unit=target, name=fields["name"], actor=self.actor)

    def cell(self, column, unit, *, native):
        if column == "id":
            return unit.pk
        return self._localized_cell(unit, column)


# --- KPIs (K1, K2, K4–K9) --------------------------------------------------------------------------

_CHOICES = {
    "kind": KpiKind,
    "status": KpiStatus,
    "level": Level,
    "direction": Direction,
    "category": Category,
    "timing": Timing,
    "measure": Measure,
    "perspective": Perspective,
}
_OPTIONAL_CHOICES = {"category", "timing", "measure", "perspective"}
_TRUE = {"true", "1", "yes", "y", "on", "да"}
_FALSE = {"false", "0", "no", "n", "off", "нет"}


class KpiResource(CompanyResource):
    """One row per KPI. ``integration_name`` is the natural key: a row whose integration name is
    an existing KPI's (case-insensitively) changes it, otherwise the row creates a KPI; an ``id``,
    when given, names the KPI to change (and may rename its integration name).

    ``unit`` is a unit's name in any language, ``department`` and ``team`` names (the department
    tells apart teams of the same name), ``owner`` a person's e-mail: all of this company.
    An empty cell clears a value; a column left out leaves it as it is.
    """

    columns = (
        "id",
        "integration_name",
        *(f"name_{language}" for language in LANGUAGES),
        *(f"description_{language}" for language in LANGUAGES),
        "unit",
        "kind",
        "status",
        "in_rating",
        "rating_units",
        "rating_points",
        "level",
        "department",
        "team",
        "direction",
        "owner",
        "category",
        "timing",
        "measure",
        "perspective",
    )
    # What "unchanged" compares: the stored values, related rows by id.
    history_fields = (
        *(f"name_{language}" for language in LANGUAGES),
        *(f"description_{language}" for language in LANGUAGES),
        *(
            f"{field}_id" if field in ("unit", "department", "team", "owner") else field
            for field in services.KPI_FIELDS
            if field not in ("name", "description")
        ),
    )
    key_column = "integration_name"

    class Meta(CompanyResource.Meta):
        model = Kpi
        name = "KPIs"

    def get_queryset(self):
        return Kpi.objects.all()

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("unit", "department", "team", "owner__user")

    # Import

    def read_row(self, values, problems):
        kpi = self._find_by_id(values, problems, Kpi.objects.all())
        integration_name = values.get("integration_name", "").strip()
        if kpi is None and not values.get("id", "").strip() and integration_name:
            kpi = Kpi.objects.filter(integration_name__iexact=integration_name).first()
        creating = kpi is None
        fields: dict = {}
        if "integration_name" in values or creating:
            fields["integration_name"] = integration_name
        for field in ("name", "description"):
            given = self._localized(values, field, creating=creating and field == "name")
            if given is not None:
                fields[field] = given
        for field, choices in _CHOICES.items():
            if field not in values:
                continue
            value = values[field].strip()
            if value:
                fields[field] = self._choice(value, choices)
            elif field in _OPTIONAL_CHOICES:
                fields[field] = ""
        if values.get("in_rating", "").strip():
            fields["in_rating"] = self._boolean(values["in_rating"].strip())
        for field in ("rating_units", "rating_points"):
            if values.get(field, "").strip():
                fields[field] = values[field].strip()
        if "unit" in values:
            fields["unit"] = self._unit(values["unit"].strip(), problems)
        department = None
        if "department" in values:
            department = fields["department"] = self._department(values["department"].strip(), problems)
        if "team" in values:
            fields["team"] = self._team(values["team"].strip(), department, problems)
        if "owner" in values:
            fields["owner"] = self._owner(values["owner"].strip(), problems)
        # A column that could not be read is left out, so the rehearsal judges the rest.
        for column in problems:
            fields.pop(column, None)
        return kpi, fields

    @staticmethod
    def _boolean(value: str):
        lowered = value.casefold()  # an xlsx boolean reads as "True" / "False"
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        return value  # the service refuses it ("Expected true or false.")

    @staticmethod
    def _choice(value: str, choices) -> str:
        """A choice by its value or its label, in any case; anything else for the service to refuse."""
        lowered = value.casefold()
        for choice, label in choices.choices:
            if lowered in (choice, choice.replace("_", " "), str(label).casefold()):
                return choice
        return value

    def _unit(self, value: str, problems):
        if not value:
            return None  # the default unit, "points"
        found = UnitName.objects.filter(key=services.name_key(value)).select_related("unit").first()
        if found is None:
            self._add(problems, "unit", _("Unknown unit “%(name)s”.") % {"name": value})
            return None
        return found.unit

    def _department(self, value: str, problems):
        if not value:
            return None
        found = Department.objects.filter(name__iexact=value).first()
        if found is None:
            self._add(problems, "department", _("Unknown department “%(name)s”.") % {"name": value})
        return found

    def _team(self, value: str, department, problems):
        if not value:
            return None
        teams = list(Team.objects.filter(name__iexact=value))
        if len(teams) > 1 and department is not None:
            teams = [team for team in teams if team.department_id == department.id]
        if len(teams) == 1:
            return teams[0]
        if teams:
            message = _("Several departments have a team “%(name)s”: give the department too.")
        else:
            message = _("Unknown team “%(name)s”.")
        self._add(problems, "team", message % {"name": value})
        return None

    def _owner(self, value: str, problems):
        if not value:
            return None
        found = Member.objects.select_related("user").filter(user__email__iexact=value).first()
        if found is None:
            self._add(
                problems,
                "owner",
                _("No person of this company has the e-mail “%(email)s”.") % {"email": value},
            )
        return found

    def write_row(self, target, fields):
        if target is None:
            return services.kpi_create(actor=self.actor, **fields)
        return services.kpi_update(kpi=target, actor=self.actor, **fields)

    # Export

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
