"""The web admin of KPI definitions (PRODUCT K1–K10), for company admins.

* Units (K3): a name per enabled language; added and edited from the KPI form too, in Django's
  related-object popups, and deleted through ``services.unit_delete`` only.
* KPIs: language tabs marked when incomplete (K5), a status switch that waits for every enabled
  language, the rating ratio (K4), links in the terms with a preview (K7), then the access step
  (K8). KPIs are archived, never deleted. Where a KPI is hidden (K6) is managed on its page.
* Targets (K9), created, changed, broken down and deleted through the services.
* History (K10) pages show the services' own ``Change`` rows, not Django's ``LogEntry``.

Every page builds on ``kpi_platform.admin.CompanyModelAdmin``: company admins only, every queryset
and choice scoped to the request's company, every write a service call.
"""

import re
from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.contrib.admin.views.main import PAGE_VAR
from django.contrib.admin.widgets import AdminDateWidget, FilteredSelectMultiple, RelatedFieldWidgetWrapper
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.core.paginator import Paginator
from django.db import models, transaction
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.templatetags.static import static
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from kpi_platform.admin import CompanyModelAdmin, ServiceModelForm, admin_member
from kpi_platform.errors import DomainError
from kpi_platform.rehearsal import rehearse
from kpis import links, services, terms
from kpis.admin_export import KpiExportMixin, UnitExportMixin
from kpis.models import (
    DESCRIPTION_MAX_LENGTH,
    BreakdownMethod,
    BreakdownPeriod,
    Change,
    ChangeAction,
    Kpi,
    KpiHide,
    KpiStatus,
    Level,
    Target,
    TargetScope,
    Unit,
)
from kpis.selectors import (
    change_list,
    kpi_audience_choices,
    kpi_hide_choices,
    kpi_hide_list,
    target_list,
)
from orgs.models import Company, Department, Member, Team
from orgs.selectors import company_get

PLATFORM_LANGUAGES = [code for code, _name in settings.LANGUAGES]
SEARCH_RESULTS = 20


def _language_name(code: str) -> str:
    return str(dict(settings.LANGUAGES).get(code, code))


def request_company(request: HttpRequest) -> Company:
    """The request's company, read once per request."""
    if not hasattr(request, "_kpis_company"):
        request._kpis_company = company_get()
    return request._kpis_company


def content_languages(company: Company) -> list[str]:
    """The company's enabled languages, its default language first (the order of the tabs)."""
    languages = list(company.languages)
    if company.default_language in languages:
        languages.remove(company.default_language)
        languages.insert(0, company.default_language)
    return languages


class ServiceValidatedForm(ServiceModelForm):
    """A form whose every value the service checks, with the messages of API.md.

    The model's own validation (``_post_clean``) is skipped: it would repeat the service's checks
    with Django's wording (a DecimalField's, a max_length's), and the form never saves the
    instance itself; ``save_via_services`` does.
    """

    company: Company | None = None

    def _post_clean(self) -> None:
        pass

    @property
    def languages(self) -> list[str]:
        return content_languages(self.company or company_get())


def _text_input(**attrs) -> forms.TextInput:
    return forms.TextInput(attrs={"class": "vTextField", **attrs})


# --- History (K10) -----------------------------------------------------------------------------------


@dataclass
class HistoryRow:
    label: str
    old: str | None
    new: str
    changed: bool  # False: a value set (a creation's snapshot), True: old → new


@dataclass
class HistoryEntry:
    change: Change
    what: str
    rows: list[HistoryRow]


_HISTORY_MODELS = {"kpi": Kpi, "unit": Unit, "target": Target, "company": Company}
_HISTORY_LABELS = {
    "audience.departments": _("access: departments"),
    "audience.teams": _("access: teams"),
    "audience.users": _("access: people"),
    "parts": _("breakdown parts"),
    "breakdown": _("breakdown"),
}


def _history_label(model: type[models.Model] | None, action: str, name: str) -> str:
    if action in (ChangeAction.HIDDEN, ChangeAction.UNHIDDEN) and name == "unit":
        return gettext("department or team")
    if name in _HISTORY_LABELS:
        return str(_HISTORY_LABELS[name])
    if model is not None:
        try:
            return str(model._meta.get_field(name).verbose_name)
        except FieldDoesNotExist:
            pass
    return name


def _history_value(model: type[models.Model] | None, name: str, value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if name == "parts" and isinstance(value, list):
        return "; ".join(f"{start}: {amount}" for start, amount in value)
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "—"
    if model is not None:
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            field = None
        if field is not None and field.choices:
            return str(dict(field.flatchoices).get(value, value))
    return str(value)


def history_entry(change: Change, viewed_type: str) -> HistoryEntry:
    model = _HISTORY_MODELS.get(change.object_type)
    rows = []
    for name, value in (change.changes or {}).items():
        label = _history_label(model, change.action, name)
        pair = isinstance(value, list) and len(value) == 2 and name != "parts"
        if change.action == ChangeAction.CREATED and not pair:
            if value in (None, "", []):
                continue
            rows.append(HistoryRow(label, None, _history_value(model, name, value), changed=False))
        elif pair:
            old, new = value
            rows.append(
                HistoryRow(
                    label, _history_value(model, name, old), _history_value(model, name, new), changed=True
                )
            )
        else:
            rows.append(HistoryRow(label, None, _history_value(model, name, value), changed=False))
    what = change.get_action_display()
    if change.object_type != viewed_type:
        kind = capfirst(model._meta.verbose_name) if model is not None else change.object_type
        what = f"{what}: {kind} “{change.object_repr}”"
    return HistoryEntry(change=change, what=what, rows=rows)


class ChangeHistoryMixin:
    """The history page of an object: the ``Change`` rows the services wrote (K10)."""

    history_object_type = ""

    def history_changes(self, obj) -> QuerySet[Change]:
        return change_list(object_type=self.history_object_type, object_id=obj.pk)

    def history_view(self, request: HttpRequest, object_id: str, extra_context=None) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        paginator = Paginator(self.history_changes(obj), 100)
        page = paginator.get_page(request.GET.get(PAGE_VAR))
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Change history: %s") % obj,
            "subtitle": None,
            "entries": [history_entry(change, self.history_object_type) for change in page],
            "page": page,
            "page_var": PAGE_VAR,
            "module_name": str(capfirst(self.opts.verbose_name_plural)),
            "object": obj,
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "preserved_filters": self.get_preserved_filters(request),
            "media": self.media,
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/kpis/change_history.html", context)


# --- Units of measurement (K3) ---------------------------------------------------------------------


class UnitForm(ServiceValidatedForm):
    class Meta:
        model = Unit
        fields = ["decimals"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        company = self.company or company_get()
        self.fields["decimals"].required = False
        for code in PLATFORM_LANGUAGES:
            self.fields.pop(f"name_{code}", None)
        for code in self.languages:
            name = f"name_{code}"
            # Not required and no max_length here: the service says what is wrong (name_length).
            self.fields[name] = forms.CharField(
                label=_("Name (%(language)s)") % {"language": _language_name(code)},
                required=False,
                widget=_text_input(),
                help_text=_("1 to 18 characters; required in the company's default language.")
                if code == company.default_language
                else _("1 to 18 characters."),
            )
            if self.instance.pk is not None:
                self.initial.setdefault(name, getattr(self.instance, name) or "")


@admin.register(Unit)
class UnitAdmin(UnitExportMixin, ChangeHistoryMixin, CompanyModelAdmin):
    form = UnitForm
    ordering = ["-is_default", "name", "id"]
    history_object_type = "unit"
    import_kind = "units"
    actions = None  # deleting goes one unit at a time, through the service, with its reasons

    class Media:
        css = {"all": ["kpis/admin/kpi_admin.css"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Unit]:
        queryset = super().get_queryset(request)
        if not self.is_company_admin(request):
            return queryset
        return queryset.annotate(kpi_count=Count("kpis"))

    def get_list_display(self, request: HttpRequest):
        names = [f"name_{code}" for code in content_languages(request_company(request))]
        return [*names, "default_mark", "kpi_count"]

    def get_search_fields(self, request: HttpRequest):
        return [f"name_{code}" for code in PLATFORM_LANGUAGES]

    def get_fieldsets(self, request: HttpRequest, obj=None):
        names = [f"name_{code}" for code in content_languages(request_company(request))]
        description = (
            _("The default unit “points” cannot be renamed or deleted.") if obj and obj.is_default else None
        )
        return [(None, {"fields": [*names, "decimals"], "description": description})]

    def get_form(self, request: HttpRequest, obj=None, change: bool = False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.company = request_company(request)
        return form

    @admin.display(description=_("default"), boolean=True, ordering="is_default")
    def default_mark(self, obj: Unit) -> bool:
        return obj.is_default

    @admin.display(description=_("KPIs"), ordering="kpi_count")
    def kpi_count(self, obj: Unit) -> int:
        return obj.kpi_count

    def save_via_services(self, request: HttpRequest, form, change: bool) -> Unit:
        names = {code: form.cleaned_data[f"name_{code}"] for code in form.languages}
        actor = admin_member(request)
        decimals = form.cleaned_data.get("decimals")
        decimals = None if decimals in (None, "") else decimals  # not posted: as it is, or the default
        if not change:
            return services.unit_create(name=names, decimals=decimals, actor=actor)
        unit = Unit.objects.get(pk=form.instance.pk)
        return services.unit_update(unit=unit, name=names, decimals=decimals, actor=actor)

    # Deleting (K3): the service refuses the default unit and units in use.

    def get_deleted_objects(self, objs, request: HttpRequest):
        objs = list(objs)
        return [str(obj) for obj in objs], {self.opts.verbose_name_plural: len(objs)}, set(), []

    def delete_model(self, request: HttpRequest, obj: Unit) -> None:
        services.unit_delete(unit=obj, actor=admin_member(request))

    def delete_view(self, request: HttpRequest, object_id: str, extra_context=None) -> HttpResponse:
        extra_context = dict(extra_context or {})
        if request.method == "GET" and self.is_company_admin(request):
            unit = self.get_object(request, unquote(object_id))
            if unit is not None:
                try:
                    rehearse(lambda: services.unit_delete(unit=unit))
                except DomainError as refusal:
                    extra_context["deletion_refusals"] = [error.message for error in refusal.errors]
                else:
                    extra_context["deletion_refusals"] = []
        try:
            return super().delete_view(request, object_id, extra_context)
        except DomainError as error:
            # Nothing was deleted: Django's delete_view runs in a transaction the error rolled back.
            for each in error.errors:
                self.message_user(request, each.message, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:kpis_unit_change", args=[quote(object_id)]))


# --- KPIs: the form (K1, K2, K4, K5, K7, K9) ------------------------------------------------------------


class StatusSwitch(forms.Widget):
    """Hidden / Active as a switch, with the reason it cannot be switched on yet (K5).

    Not a ``CheckboxInput`` subclass, so the admin lays it out like the other fields (label first).
    """

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.reason = ""

    def value_from_datadict(self, data, files, name) -> bool:
        return forms.CheckboxInput().value_from_datadict(data, files, name)

    def value_omitted_from_data(self, data, files, name) -> bool:
        return False  # an unchecked box is "off", not "omitted"

    def render(self, name, value, attrs=None, renderer=None) -> str:
        attrs = self.build_attrs(self.attrs, attrs)
        input_id = attrs.get("id", f"id_{name}")
        checked = bool(value)
        disabled = bool(attrs.pop("disabled", False))
        return format_html(
            '<div class="kpi-status">'
            '<input type="checkbox" role="switch" name="{}" value="active" id="{}" '
            'aria-describedby="{}_reason"{}{}>'
            '<label class="kpi-status-state" for="{}" data-on="{}" data-off="{}">{}</label>'
            '<span class="kpi-status-reason" id="{}_reason"{}>{}</span>'
            "</div>",
            name,
            input_id,
            input_id,
            " checked" if checked else "",
            " disabled" if disabled else "",
            input_id,
            KpiStatus.ACTIVE.label,
            KpiStatus.HIDDEN.label,
            KpiStatus.ACTIVE.label if checked else KpiStatus.HIDDEN.label,
            input_id,
            "" if self.reason else " hidden",
            self.reason,
        )


def _format_decimal(value) -> str:
    return format(value.normalize(), "f") if value is not None else ""


# What a missing field is called in the status reason; the same rule as kpi_missing_translations.
MISSING_NAME = _("the name in %(language)s")
MISSING_DESCRIPTION = _("the description in %(language)s")
MISSING_INTEGRATION_NAME = _("the integration field name")
ACTIVATION_REASON = _("Fill in %(items)s to activate.")


def _missing_item(error: DomainError) -> str:
    field, _dot, language = (error.field or "").partition(".")
    if field == "name":
        return str(MISSING_NAME) % {"language": _language_name(language)}
    if field == "description":
        return str(MISSING_DESCRIPTION) % {"language": _language_name(language)}
    if field == "integration_name":
        return str(MISSING_INTEGRATION_NAME)
    return error.message


@dataclass
class LanguageTab:
    code: str
    name: str
    is_default: bool
    name_field: forms.BoundField
    description_field: forms.BoundField
    incomplete: bool
    has_errors: bool
    selected: bool
    preview: str
    preview_errors: list[str]


class KpiForm(ServiceValidatedForm):
    integration_name = forms.CharField(
        label=_("Integration field name"),
        required=False,
        widget=_text_input(autocomplete="off", spellcheck="false"),
        help_text=_("Letters, digits and _; the same in every language. Used to import KPI actions."),
    )
    in_rating = forms.BooleanField(label=_("Consider in the rating"), required=False)
    rating_units = forms.CharField(
        label=_("Units of measurement"),
        required=False,
        initial="1",
        widget=forms.TextInput(
            attrs={"class": "vIntegerField", "inputmode": "decimal", "aria-label": _("Units of measurement")}
        ),
    )
    rating_points = forms.CharField(
        label=_("Rating points"),
        required=False,
        initial="1",
        widget=forms.TextInput(
            attrs={"class": "vIntegerField", "inputmode": "numeric", "aria-label": _("Rating points")}
        ),
    )
    status = forms.BooleanField(label=_("Status"), required=False, widget=StatusSwitch)

    class Meta:
        model = Kpi
        # The model fields come from KpiAdmin's fieldsets, made per request: a form made at import
        # time would read the company-scoped managers (units, departments) outside any company.
        fields = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        company = self.company or company_get()
        self.company = company
        instance = self.instance
        for code in PLATFORM_LANGUAGES:
            self.fields.pop(f"name_{code}", None)
            self.fields.pop(f"description_{code}", None)
        for code in self.languages:
            self.fields[f"name_{code}"] = forms.CharField(
                label=_("Name"), required=False, widget=_text_input(autocomplete="off")
            )
            self.fields[f"description_{code}"] = forms.CharField(
                label=_("Description and terms"),
                required=False,
                strip=False,
                widget=forms.Textarea(attrs={"class": "vLargeTextField kpi-description-text", "rows": 6}),
            )
            if instance.pk is not None:
                self.initial.setdefault(f"name_{code}", getattr(instance, f"name_{code}") or "")
                self.initial.setdefault(f"description_{code}", getattr(instance, f"description_{code}") or "")
        # K11: left out, how values combine and the bands stay as they are (the service checks them).
        for name in ("aggregation", "threshold_green", "threshold_amber"):
            if name in self.fields:
                self.fields[name].required = False
        for name in ("threshold_green", "threshold_amber"):
            if name in self.fields:
                # The text as typed, for the one decimal parser (a DecimalField reads "1_000" and "٣").
                model_field = self.fields[name]
                self.fields[name] = forms.CharField(
                    label=model_field.label,
                    required=False,
                    initial=model_field.initial,
                    help_text=model_field.help_text,
                    widget=forms.TextInput(attrs={"class": "vIntegerField", "inputmode": "decimal"}),
                )
        if instance.pk is not None:
            self.initial.setdefault("integration_name", instance.integration_name)
            self.initial["in_rating"] = instance.in_rating
            self.initial["rating_units"] = _format_decimal(instance.rating_units)
            self.initial["rating_points"] = str(instance.rating_points)
            self.initial["status"] = instance.status == KpiStatus.ACTIVE
        if "team" in self.fields:
            team_field = self.fields["team"]
            team_field.queryset = Team.objects.select_related("department").order_by(
                "department__name", "name", "id"
            )
            team_field.label_from_instance = lambda team: f"{team.department} / {team}"
        if "department" in self.fields:
            self.fields["department"].queryset = Department.objects.order_by("name", "id")
        if "unit" in self.fields:
            self.fields["unit"].help_text = _("Add a unit with +, edit the chosen one with the pencil.")

        self.missing = services.kpi_missing_translations(self._probe(), company)
        switch = self.fields["status"].widget
        if self.missing:
            switch.attrs["disabled"] = True
            switch.reason = str(ACTIVATION_REASON) % {
                "items": ", ".join(_missing_item(error) for error in self.missing)
            }

    def _value(self, name: str) -> str:
        if self.is_bound:
            return self.data.get(self.add_prefix(name), "") or ""
        return self.initial.get(name) or ""

    def _probe(self) -> Kpi:
        """An unsaved KPI with the texts the form holds now, to ask what keeps it from being Active."""
        probe = Kpi(integration_name=self._value("integration_name").strip())
        for code in self.languages:
            setattr(probe, f"name_{code}", self._value(f"name_{code}").strip())
            setattr(probe, f"description_{code}", self._value(f"description_{code}").strip())
        return probe

    def clean_status(self) -> str:
        return KpiStatus.ACTIVE if self.cleaned_data["status"] else KpiStatus.HIDDEN

    @property
    def language_tabs(self) -> list[LanguageTab]:
        incomplete = {(error.field or "").partition(".")[2] for error in self.missing} - {""}
        tabs = []
        for code in self.languages:
            name_field, description_field = self[f"name_{code}"], self[f"description_{code}"]
            text = self._value(f"description_{code}")
            tabs.append(
                LanguageTab(
                    code=code,
                    name=_language_name(code),
                    is_default=code == self.company.default_language,
                    name_field=name_field,
                    description_field=description_field,
                    incomplete=code in incomplete,
                    has_errors=bool(name_field.errors or description_field.errors),
                    selected=False,
                    preview=terms.render(text),
                    # A refused save shows the same problems as the field's errors already.
                    preview_errors=[]
                    if description_field.errors
                    else [problem.message for problem in terms.find_link_errors(text)],
                )
            )
        selected = next((tab for tab in tabs if tab.has_errors), tabs[0] if tabs else None)
        if selected is not None:
            selected.selected = True
        return tabs

    def js_config(self) -> dict:
        return {
            "languages": {code: _language_name(code) for code in self.languages},
            "activationReason": str(ACTIVATION_REASON),
            "missingName": str(MISSING_NAME),
            "missingDescription": str(MISSING_DESCRIPTION),
            "missingIntegrationName": str(MISSING_INTEGRATION_NAME),
        }


def _kpi_fields(form: KpiForm) -> dict:
    """The service's arguments from the form. Fields the chosen level does not use are dropped, and
    the ratio is passed only when the KPI counts in the rating (K4: kept but irrelevant when off)."""
    data = form.cleaned_data
    level = data["level"]
    fields = {
        "name": {code: data[f"name_{code}"] for code in form.languages},
        "description": {code: data[f"description_{code}"] for code in form.languages},
        "integration_name": data["integration_name"],
        "unit": data["unit"],
        "kind": data["kind"],
        "status": data["status"],
        "in_rating": data["in_rating"],
        "level": level,
        "department": data["department"] if level == Level.DEPARTMENT else None,
        "team": data["team"] if level == Level.TEAM else None,
        "direction": data["direction"],
        "formula": data["formula"],
        "owner": data["owner"],
        "category": data["category"],
        "timing": data["timing"],
        "measure": data["measure"],
        "perspective": data["perspective"],
    }
    for name in ("aggregation", "threshold_green", "threshold_amber"):
        if data.get(name) not in (None, ""):
            fields[name] = data[name]
    if data["in_rating"]:
        fields["rating_units"] = data["rating_units"]
        fields["rating_points"] = data["rating_points"]
    return fields


def _narrower_message(link: links.NarrowerTarget) -> str:
    if link.inactive:
        return gettext(
            "The linked KPI “%(name)s” is not active: people who receive this KPI cannot open the link."
        ) % {"name": link.name}
    return ngettext(
        "%(count)d person who receives this KPI cannot open the link to “%(name)s”: "
        "its audience is narrower.",
        "%(count)d people who receive this KPI cannot open the link to “%(name)s”: its audience is narrower.",
        link.shut_out,
    ) % {"count": link.shut_out, "name": link.name}


def narrower_links(kpi: Kpi) -> list[str]:
    """K7: the internal links of ``kpi``'s terms (in any language) that some of its receivers cannot
    open, as warnings."""
    targets = [
        target
        for code in PLATFORM_LANGUAGES
        for target in terms.internal_targets(getattr(kpi, f"description_{code}", "") or "")
    ]
    return [_narrower_message(link) for link in links.narrower_targets(kpi, targets)]


# --- KPIs: access (K8) and hides (K6) ---------------------------------------------------------------


class TeamMultipleChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Team) -> str:
        return f"{obj.department} / {obj}"


class PersonMultipleChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Member) -> str:
        name = obj.user.get_full_name()
        return f"{name} ({obj.user.email})" if name else obj.user.email


EVERYONE, CHOSEN = "everyone", "chosen"


def level_description(kpi: Kpi) -> str:
    if kpi.level == Level.DEPARTMENT:
        return gettext("everyone in the department %(unit)s") % {"unit": kpi.department}
    if kpi.level == Level.TEAM:
        return gettext("everyone in the team %(unit)s") % {"unit": f"{kpi.team.department} / {kpi.team}"}
    return gettext("everyone in the company")


class AccessForm(forms.Form):
    """Who receives a KPI (K8): everyone at its level, or chosen units and people within it."""

    mode = forms.ChoiceField(label=_("Who receives this KPI"), widget=forms.RadioSelect)
    departments = forms.ModelMultipleChoiceField(
        label=_("Departments"), queryset=None, required=False, widget=forms.CheckboxSelectMultiple
    )
    teams = TeamMultipleChoiceField(
        label=_("Teams"), queryset=None, required=False, widget=forms.CheckboxSelectMultiple
    )
    members = PersonMultipleChoiceField(
        label=_("People"),
        queryset=None,
        required=False,
        widget=FilteredSelectMultiple(_("people"), is_stacked=False),
    )

    def __init__(self, *args, kpi: Kpi, **kwargs):
        super().__init__(*args, **kwargs)
        self.kpi = kpi
        self.fields["mode"].choices = [
            (EVERYONE, capfirst(level_description(kpi))),
            (CHOSEN, _("Chosen departments, teams and people within the KPI's level")),
        ]
        departments, teams, people = kpi_audience_choices(kpi)
        self.fields["departments"].queryset = departments
        self.fields["teams"].queryset = teams
        self.fields["members"].queryset = people
        if kpi.level == Level.TEAM:
            del self.fields["departments"]
        if not self.is_bound:
            audience = services.kpi_audience_get(kpi)
            self.initial.update(
                {
                    "mode": EVERYONE if audience.is_empty() else CHOSEN,
                    "departments": audience.departments,
                    "teams": audience.teams,
                    "members": audience.members,
                }
            )

    def clean(self):
        data = super().clean()
        if data.get("mode") == CHOSEN and not any(
            data.get(name) for name in ("departments", "teams", "members")
        ):
            raise forms.ValidationError(
                _("Choose at least one department, team or person, or give the KPI to everyone at its level.")
            )
        return data

    def audience(self) -> services.Audience:
        data = self.cleaned_data
        if data["mode"] == EVERYONE:
            return services.Audience()
        return services.Audience(
            departments=list(data.get("departments") or []),
            teams=list(data.get("teams") or []),
            members=list(data.get("members") or []),
        )

    def show_error(self, error: DomainError) -> None:
        field = {
            "audience.departments": "departments",
            "audience.teams": "teams",
            "audience.users": "members",
        }.get(error.field or "")
        self.add_error(field if field in self.fields else None, error.message)


class HideForm(forms.Form):
    """Hide an inherited KPI for a department (and its teams) or a team (K6)."""

    unit = forms.ChoiceField(label=_("Hide for"))

    def __init__(self, *args, kpi: Kpi, **kwargs):
        super().__init__(*args, **kwargs)
        departments, teams = kpi_hide_choices(kpi)
        self._departments = {department.pk: department for department in departments}
        self._teams = {team.pk: team for team in teams}
        groups = []
        if self._departments:
            groups.append(
                (
                    _("Departments (and their teams)"),
                    [(f"department:{pk}", str(department)) for pk, department in self._departments.items()],
                )
            )
        if self._teams:
            groups.append(
                (
                    _("Teams"),
                    [(f"team:{pk}", f"{team.department} / {team}") for pk, team in self._teams.items()],
                )
            )
        self.fields["unit"].choices = [("", "---------"), *groups]

    @property
    def has_choices(self) -> bool:
        return bool(self._departments or self._teams)

    def clean_unit(self) -> dict:
        kind, _sep, pk = self.cleaned_data["unit"].partition(":")
        if kind == "department":
            return {"department": self._departments[int(pk)]}
        return {"team": self._teams[int(pk)]}


# --- KPIs: the admin ----------------------------------------------------------------------------------


class ArchivedFilter(admin.SimpleListFilter):
    title = _("archived")
    parameter_name = "archived"

    def lookups(self, request: HttpRequest, model_admin):
        return [("no", _("No")), ("yes", _("Yes"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Kpi]) -> QuerySet[Kpi]:
        if self.value() == "no":
            return queryset.filter(archived_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(archived_at__isnull=False)
        return queryset


class UnitListFilter(admin.RelatedFieldListFilter):
    def field_choices(self, field, request: HttpRequest, model_admin):
        return [(unit.pk, str(unit)) for unit in Unit.objects.order_by("-is_default", "name", "id")]


@admin.register(Kpi)
class KpiAdmin(KpiExportMixin, ChangeHistoryMixin, CompanyModelAdmin):
    form = KpiForm
    list_display = [
        "name_column",
        "integration_name_column",
        "unit_column",
        "kind",
        "level_column",
        "status_column",
        "rating_column",
        "description_column",
    ]
    list_filter = ["status", "kind", "level", "in_rating", ("unit", UnitListFilter), ArchivedFilter]
    list_select_related = ["unit", "department", "team__department"]
    ordering = ["name", "id"]
    autocomplete_fields = ["owner"]
    actions = ["archive"]
    history_object_type = "kpi"
    import_kind = "kpis"

    class Media:
        css = {"all": ["kpis/admin/kpi_admin.css"]}

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # KPIs are archived (their actions and history stay), never deleted

    def get_queryset(self, request: HttpRequest) -> QuerySet[Kpi]:
        return super().get_queryset(request).select_related("unit", "department", "team__department")

    def get_search_fields(self, request: HttpRequest):
        return [*(f"name_{code}" for code in PLATFORM_LANGUAGES), "integration_name"]

    def get_fieldsets(self, request: HttpRequest, obj=None):
        # The template draws the rest: names, terms and the integration field name in language
        # tabs above these, and the rating with its ratio on one line after the first.
        return [
            (_("Measurement"), {"fields": ["unit", "kind"]}),
            (
                _("How values add up"),
                {
                    "fields": ["aggregation", "formula", "threshold_green", "threshold_amber"],
                    "description": _(
                        "A formula makes the KPI calculated from other KPIs' figures of the same "
                        "scope and period, by their integration names: e.g. "
                        "deals_closed / leads * 100. It then records no actions and earns no points. "
                        "The traffic light is green from the first threshold (percent of where the "
                        "figure should be by today) and amber from the second."
                    ),
                },
            ),
            (_("Status"), {"fields": ["status"]}),
            (_("Level"), {"fields": ["level", "department", "team"]}),
            (
                _("More about the KPI"),
                {"fields": ["direction", "owner", "category", "timing", "measure", "perspective"]},
            ),
        ]

    def get_form(self, request: HttpRequest, obj=None, change: bool = False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.company = request_company(request)
        return form

    def formfield_for_dbfield(self, db_field, request: HttpRequest, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if formfield is None or not isinstance(formfield.widget, RelatedFieldWidgetWrapper):
            return formfield
        if db_field.name == "unit":
            # K3: add and edit next to the unit; deleting is done from the units' own list.
            formfield.widget.can_delete_related = False
            formfield.widget.can_view_related = False
        else:
            formfield.widget = formfield.widget.widget
        return formfield

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("unit", services.default_unit().pk)
        return initial

    # The list

    @admin.display(description=_("name"), ordering="name")
    def name_column(self, obj: Kpi) -> str:
        if obj.archived_at is not None:
            return format_html('{} <span class="kpi-badge">{}</span>', obj, gettext("archived"))
        return str(obj)

    @admin.display(description=_("integration name"), ordering="integration_name")
    def integration_name_column(self, obj: Kpi) -> str:
        return obj.integration_name

    @admin.display(description=_("unit"), ordering="unit__name")
    def unit_column(self, obj: Kpi) -> str:
        return str(obj.unit)

    @admin.display(description=_("level"), ordering="level")
    def level_column(self, obj: Kpi) -> str:
        if obj.level == Level.DEPARTMENT and obj.department is not None:
            return f"{obj.get_level_display()}: {obj.department}"
        if obj.level == Level.TEAM and obj.team is not None:
            return f"{obj.get_level_display()}: {obj.team.department} / {obj.team}"
        return obj.get_level_display()

    @admin.display(description=_("status"), ordering="status")
    def status_column(self, obj: Kpi) -> str:
        return format_html(
            '<span class="kpi-status-badge kpi-status-{}">{}</span>', obj.status, obj.get_status_display()
        )

    @admin.display(description=_("rating (units = points)"), ordering="in_rating")
    def rating_column(self, obj: Kpi) -> str:
        if not obj.in_rating:
            return format_html('<img src="{}" alt="{}">', static("admin/img/icon-no.svg"), gettext("No"))
        return format_html(
            '<img src="{}" alt="{}"> <span class="kpi-ratio-cell">{} = {}</span>',
            static("admin/img/icon-yes.svg"),
            gettext("Yes"),
            _format_decimal(obj.rating_units),
            obj.rating_points,
        )

    @admin.display(description=_("terms"))
    def description_column(self, obj: Kpi) -> str:
        return format_html('<div class="kpi-terms-cell">{}</div>', terms.render(obj.description or ""))

    # Saving

    def history_changes(self, obj: Kpi) -> QuerySet[Change]:
        return change_list(kpi_id=obj.pk)  # with its targets', audience's and hides' changes

    def save_via_services(self, request: HttpRequest, form: KpiForm, change: bool) -> Kpi:
        actor = admin_member(request)
        if not change:
            return services.kpi_create(actor=actor, **_kpi_fields(form))
        kpi = Kpi.objects.get(pk=form.instance.pk)
        return services.kpi_update(kpi=kpi, actor=actor, **_kpi_fields(form))

    def save_model(self, request: HttpRequest, obj: Kpi, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        for warning in narrower_links(obj):
            self.message_user(request, warning, messages.WARNING)

    def response_add(self, request: HttpRequest, obj: Kpi, post_url_continue=None) -> HttpResponse:
        if "_popup" in request.POST:
            return super().response_add(request, obj, post_url_continue)
        # K8: after the settings comes the access assignment.
        self.message_user(
            request,
            gettext("The KPI “%(name)s” was added. Now choose who receives it.") % {"name": obj},
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:kpis_kpi_access", args=[quote(obj.pk)]))

    def changeform_view(self, request: HttpRequest, object_id=None, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        extra_context.setdefault("show_save_and_add_another", False)
        if object_id is None:
            extra_context.setdefault("show_save_and_continue", False)
        if self.is_company_admin(request):
            extra_context["kpi_urls"] = {
                "search": reverse("admin:kpis_kpi_search"),
                "preview": reverse("admin:kpis_kpi_preview"),
                "linkAudience": reverse("admin:kpis_kpi_link_audience"),
            }
            extra_context["kpi_link_sections"] = list(links.SECTION_LABELS.items())
            kpi = self.get_object(request, unquote(object_id)) if object_id else None
            if kpi is not None:
                extra_context.update(self._kpi_page_sections(kpi))
        return super().changeform_view(request, object_id, form_url, extra_context)

    def render_change_form(
        self, request: HttpRequest, context, add=False, change=False, form_url="", obj=None
    ):
        form = context["adminform"].form
        if isinstance(form, KpiForm):
            context["kpi_config"] = {**form.js_config(), **context.get("kpi_urls", {})}
            if obj is not None:
                context["kpi_config"]["exclude"] = obj.pk
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _kpi_page_sections(self, kpi: Kpi) -> dict:
        hides = list(kpi_hide_list(kpi=kpi))
        return {
            "kpi": kpi,
            "kpi_hides": hides,
            "kpi_hide_form": HideForm(kpi=kpi, auto_id="id_hide_%s"),
            "kpi_targets": list(target_list(filters={"kpi": kpi.pk})[:50]),
            "kpi_archived": kpi.archived_at is not None,
        }

    @admin.action(description=_("Archive selected KPIs"))
    def archive(self, request: HttpRequest, queryset: QuerySet[Kpi]) -> None:
        kpis = list(queryset.filter(archived_at__isnull=True))
        for kpi in kpis:
            services.kpi_archive(kpi=kpi, actor=admin_member(request))
        self.message_user(
            request,
            ngettext("Archived %(count)d KPI.", "Archived %(count)d KPIs.", len(kpis)) % {"count": len(kpis)},
            messages.SUCCESS,
        )

    # Pages of its own: access (K8), hides (K6), and the JSON of the terms' link dialog (K7).

    def get_urls(self):
        def wrap(view):
            return self.admin_site.admin_view(view)

        return [
            path("search/", wrap(self.search_view), name="kpis_kpi_search"),
            path("preview/", wrap(self.preview_view), name="kpis_kpi_preview"),
            path("link-audience/", wrap(self.link_audience_view), name="kpis_kpi_link_audience"),
            path("<path:object_id>/access/", wrap(self.access_view), name="kpis_kpi_access"),
            path("<path:object_id>/hides/", wrap(self.hides_view), name="kpis_kpi_hides"),
            *super().get_urls(),
        ]

    def _kpi_or_redirect(self, request: HttpRequest, object_id: str) -> Kpi | HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        kpi = self.get_object(request, unquote(object_id))
        if kpi is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        return kpi

    def access_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        kpi = self._kpi_or_redirect(request, object_id)
        if isinstance(kpi, HttpResponse):
            return kpi
        form = AccessForm(request.POST if request.method == "POST" else None, kpi=kpi)
        if form.is_bound and form.is_valid():
            try:
                with transaction.atomic():
                    services.kpi_set_audience(kpi=kpi, audience=form.audience(), actor=admin_member(request))
            except DomainError as error:
                for each in error.errors:
                    form.show_error(each)
            else:
                self.message_user(
                    request, gettext("Access to “%(name)s” saved.") % {"name": kpi}, messages.SUCCESS
                )
                for warning in narrower_links(kpi):
                    self.message_user(request, warning, messages.WARNING)
                return HttpResponseRedirect(reverse("admin:kpis_kpi_change", args=[quote(kpi.pk)]))
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Who receives “%(name)s”") % {"name": kpi},
            "subtitle": None,
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "original": kpi,
            "kpi": kpi,
            "level": capfirst(level_description(kpi)),
            "form": form,
            "media": self.media + form.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/kpis/kpi/access.html", context)

    def hides_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        kpi = self._kpi_or_redirect(request, object_id)
        if isinstance(kpi, HttpResponse):
            return kpi
        actor = admin_member(request)
        try:
            if request.POST.get("action") == "unhide":
                hide = KpiHide.objects.filter(kpi=kpi, pk=_int_or_none(request.POST.get("hide"))).first()
                if hide is not None:
                    services.kpi_unhide(kpi=kpi, department=hide.department, team=hide.team, actor=actor)
                    self.message_user(
                        request,
                        gettext("“%(name)s” is shown again for %(unit)s.")
                        % {"name": kpi, "unit": hide.department or hide.team},
                        messages.SUCCESS,
                    )
            else:
                form = HideForm(request.POST, kpi=kpi)
                if form.is_valid():
                    unit = form.cleaned_data["unit"]
                    services.kpi_hide(kpi=kpi, actor=actor, **unit)
                    self.message_user(
                        request,
                        gettext("“%(name)s” is hidden for %(unit)s.")
                        % {"name": kpi, "unit": next(iter(unit.values()))},
                        messages.SUCCESS,
                    )
                else:
                    for errors in form.errors.values():
                        for error in errors:
                            self.message_user(request, error, messages.ERROR)
        except DomainError as error:
            for each in error.errors:
                self.message_user(request, each.message, messages.ERROR)
        return HttpResponseRedirect(reverse("admin:kpis_kpi_change", args=[quote(kpi.pk)]) + "#kpi-hides")

    def search_view(self, request: HttpRequest) -> JsonResponse:
        """What the link dialog offers in a section (``section``, KPIs by default) by name or id:
        what the admin may open, of their company only."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        section = request.GET.get("section", "kpis")
        if section not in links.SECTION_LABELS:
            return JsonResponse({"results": [], "error": gettext("Choose a section.")}, status=400)
        results = links.target_search(
            admin_member(request),
            section=section,
            term=request.GET.get("q", ""),
            exclude=_int_or_none(request.GET.get("exclude")),
        )
        return JsonResponse({"results": results})

    def link_audience_view(self, request: HttpRequest) -> JsonResponse:
        """K7, before saving: whether the chosen target is narrower than the KPI as the form now has
        it (``kpi``: the KPI being changed, if any; ``level``, ``department``, ``team``)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        section = request.GET.get("section", "")
        target_id = _int_or_none(request.GET.get("id"))
        if section not in links.SECTION_LABELS or target_id is None:
            return JsonResponse({"warning": None, "error": gettext("Choose what to link to.")}, status=400)
        target = (section, target_id)
        if target not in links.target_names([target]):
            message = gettext("This page is not one of your company's: choose another.")
            return JsonResponse({"warning": None, "error": message}, status=404)
        kpi = _kpi_as_in_form(request.GET)
        narrower = links.narrower_targets(kpi, [target])
        return JsonResponse({"warning": _narrower_message(narrower[0]) if narrower else None})

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        """The terms as users will see them (K7), and what is wrong with their links."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        text = request.POST.get("text", "")[: DESCRIPTION_MAX_LENGTH + 1]
        errors = [error.message for error in services.kpi_terms_link_errors(text)]
        # A link to what is not the company's is no link in the preview either, only its error.
        existing = set(links.target_names(terms.internal_targets(text)))
        return JsonResponse({"html": terms.render(text, openable=existing), "errors": errors})


def _kpi_as_in_form(query) -> Kpi:
    """The KPI being edited (or a new one) with the level, department and team the form now shows:
    whom it would reach once saved. Ids go through the scoped managers: another company's is none."""
    kpi = Kpi.objects.filter(pk=_int_or_none(query.get("kpi"))).first() or Kpi()
    level = query.get("level")
    if level in Level.values:
        kpi.level = level
        department = Department.objects.filter(pk=_int_or_none(query.get("department"))).first()
        team = Team.objects.filter(pk=_int_or_none(query.get("team"))).select_related("department").first()
        kpi.department_id = (team.department_id if team else None) if level == Level.TEAM else None
        if level == Level.DEPARTMENT:
            kpi.department_id = department.pk if department else None
        kpi.team_id = team.pk if team and level == Level.TEAM else None
    return kpi


def _int_or_none(value) -> int | None:
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,18}", value):
        return int(value)
    return None


# --- Targets (K9) -----------------------------------------------------------------------------------


def _manual_values(text: str) -> list[str]:
    return [value for value in re.split(r"[\s;]+", text or "") if value]


class TargetForm(ServiceValidatedForm):
    # Named as the services name them, so their errors land on the right field.
    value = forms.CharField(
        label=_("Target value"),
        required=False,
        widget=forms.TextInput(attrs={"class": "vIntegerField", "inputmode": "decimal"}),
    )
    user = forms.ModelChoiceField(label=_("Person"), queryset=None, required=False)
    into = forms.ChoiceField(
        label=_("Break down into"),
        required=False,
        choices=[("", _("No breakdown")), *BreakdownPeriod.choices],
    )
    method = forms.ChoiceField(
        label=_("How"), required=False, choices=[("", "---------"), *BreakdownMethod.choices]
    )
    values = forms.CharField(
        label=_("Values by hand"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "class": "vLargeTextField"}),
        help_text=_("For “By hand”: one value per period, in order, separated by spaces or new lines."),
    )

    class Meta:
        model = Target
        fields = []  # from TargetAdmin's fieldsets, made per request (see KpiForm)
        widgets = {"start": AdminDateWidget}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = Member.objects.select_related("user").order_by("user__email")
        if "kpi" in self.fields:
            self.fields["kpi"].queryset = Kpi.objects.filter(archived_at__isnull=True).order_by("name", "id")
        if "team" in self.fields:
            self.fields["team"].queryset = Team.objects.select_related("department").order_by(
                "department__name", "name", "id"
            )
            self.fields["team"].label_from_instance = lambda team: f"{team.department} / {team}"
        if "department" in self.fields:
            self.fields["department"].queryset = Department.objects.order_by("name", "id")
        target = self.instance
        if target.pk is not None:
            self.initial.update(
                {
                    "value": _format_decimal(target.value),
                    "into": target.breakdown_period,
                    "method": target.breakdown_method,
                }
            )
            if target.breakdown_method == BreakdownMethod.MANUAL:
                self.initial["values"] = " ".join(_format_decimal(part.value) for part in target.parts.all())


@admin.register(Target)
class TargetAdmin(ChangeHistoryMixin, CompanyModelAdmin):
    form = TargetForm
    list_display = ["kpi", "period", "start", "holder", "value", "breakdown"]
    list_filter = ["period", "scope", ("kpi", admin.RelatedFieldListFilter)]
    list_select_related = ["kpi", "department", "team__department", "member__user"]
    ordering = ["kpi__name", "-start", "scope_key"]
    history_object_type = "target"

    class Media:
        css = {"all": ["kpis/admin/kpi_admin.css"]}
        js = ["kpis/admin/kpi_target.js"]

    def get_search_fields(self, request: HttpRequest):
        return [f"kpi__name_{code}" for code in PLATFORM_LANGUAGES] + ["kpi__integration_name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Target]:
        return (
            super()
            .get_queryset(request)
            .select_related("kpi", "department", "team__department", "member__user")
        )

    def get_fieldsets(self, request: HttpRequest, obj=None):
        breakdown = (
            _("Breakdown into shorter periods"),
            {
                "fields": ["into", "method", "values", *(["parts_table"] if obj is not None else [])],
                "description": _("Evenly, by number of days, or by hand; the parts add up to the target."),
            },
        )
        if obj is None:
            return [
                (None, {"fields": ["kpi", "period", "start", "value"]}),
                (_("For"), {"fields": ["scope", "department", "team", "user"]}),
                breakdown,
            ]
        return [(None, {"fields": ["kpi", "period", "start", "holder", "value"]}), breakdown]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        if obj is None:
            return []
        return ["kpi", "period", "start", "holder", "parts_table"]

    def get_form(self, request: HttpRequest, obj=None, change: bool = False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.company = request_company(request)
        return form

    def formfield_for_dbfield(self, db_field, request: HttpRequest, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if formfield is not None and isinstance(formfield.widget, RelatedFieldWidgetWrapper):
            formfield.widget = formfield.widget.widget  # a target picks; it adds no KPIs or teams
        return formfield

    @admin.display(description=_("for"))
    def holder(self, obj: Target) -> str:
        if obj.scope == TargetScope.DEPARTMENT:
            return f"{obj.get_scope_display()}: {obj.department}"
        if obj.scope == TargetScope.TEAM:
            return f"{obj.get_scope_display()}: {obj.team.department} / {obj.team}"
        if obj.scope == TargetScope.USER:
            return f"{obj.get_scope_display()}: {obj.member}"
        return obj.get_scope_display()

    @admin.display(description=_("breakdown"))
    def breakdown(self, obj: Target) -> str:
        if not obj.breakdown_method:
            return "—"
        return f"{obj.get_breakdown_period_display()}, {obj.get_breakdown_method_display().lower()}"

    @admin.display(description=_("parts"))
    def parts_table(self, obj: Target) -> str:
        parts = list(obj.parts.all())
        if not parts:
            return "—"
        rows = format_html(
            "".join(["<tr><td>{}</td><td>{}</td><td>{}</td></tr>"] * len(parts)),
            *[item for part in parts for item in (part.start, part.end, _format_decimal(part.value))],
        )
        return format_html(
            '<table class="kpi-parts"><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead>'
            "<tbody>{}</tbody></table>",
            gettext("from"),
            gettext("to"),
            gettext("value"),
            rows,
        )

    def save_via_services(self, request: HttpRequest, form: TargetForm, change: bool) -> Target:
        data = form.cleaned_data
        breakdown = {
            "into": data["into"],
            "method": data["method"],
            "values": _manual_values(data["values"]) or None,
        }
        if change:
            return services.target_save(
                target=Target.objects.select_related("kpi").get(pk=form.instance.pk),
                value=data["value"],
                **breakdown,
                changed=bool({"value", "into", "method", "values"} & set(form.changed_data)),
                actor=admin_member(request),
            )
        scope = data["scope"]
        return services.target_save(
            kpi=data["kpi"],
            period=data["period"],
            start=data["start"],
            value=data["value"],
            scope=scope,
            department=data["department"] if scope == TargetScope.DEPARTMENT else None,
            team=data["team"] if scope == TargetScope.TEAM else None,
            member=data["user"] if scope == TargetScope.USER else None,
            **breakdown,
            actor=admin_member(request),
        )

    def get_deleted_objects(self, objs, request: HttpRequest):
        objs = list(objs)
        return [str(obj) for obj in objs], {self.opts.verbose_name_plural: len(objs)}, set(), []

    def delete_model(self, request: HttpRequest, obj: Target) -> None:
        services.target_delete(target=obj, actor=admin_member(request))

    def history_changes(self, obj: Target) -> QuerySet[Change]:
        return change_list(object_type="target", object_id=obj.pk)
