"""Organization → Key Metrics (seed 001; PRODUCT K6, K8, O1, O4): the KPIs in force at each level a
person reaches, and, for the people who run a level, hiding and showing inherited KPIs and adding
the level's own. Every change goes through ``kpis.services`` and is checked by ``kpis.access``;
what is shown is assembled in ``pages.key_metrics``."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from kpi_platform.errors import DomainError
from kpis import access as kpi_access
from kpis import services
from kpis.admin import AccessForm
from kpis.models import Aggregation, Direction, KpiKind, KpiStatus, Level
from kpis.selectors import unit_list
from orgs import access
from orgs.i18n import content_languages, localized
from orgs.models import Company, Member
from pages import key_metrics
from pages.key_metrics import MetricsLevel
from pages.views.base import page, viewer_of

LANGUAGE_NAMES = dict(settings.LANGUAGES)


def _unit_level(viewer: Member, kind: str, org_unit_id: int) -> MetricsLevel:
    """The department or team ``viewer`` reaches (O4); any other id, another company's included,
    is a 404 like one that does not exist."""
    if kind == Level.DEPARTMENT:
        department = key_metrics.metrics_departments(viewer).filter(id=org_unit_id).first()
        if department is None:
            raise Http404
        return key_metrics.department_level(department)
    team = key_metrics.metrics_teams(viewer).filter(id=org_unit_id).first()
    if team is None:
        raise Http404
    return key_metrics.team_level(team)


def _render(
    request: HttpRequest,
    viewer: Member,
    level: MetricsLevel | None,
    tree: key_metrics.LevelTree | None = None,
) -> HttpResponse:
    company = viewer.company
    languages = content_languages(request.user, company)
    tree = tree or key_metrics.level_tree(viewer, company)
    metrics = None
    if level is not None:
        metrics = key_metrics.level_metrics(viewer, level, company, languages, company.today())
    context = {
        "tree": tree,
        "level": level,
        "metrics": metrics,
        "is_admin": access.is_company_admin(viewer),
        "units_define_kpis": company.units_define_kpis,
        # In the middle of a sentence: "tracked monthly".
        "primary_frequency": company.get_primary_frequency_display().lower(),
        "secondary_frequency": company.get_secondary_frequency_display().lower(),
    }
    return render(request, "orgs/key_metrics.html", context)


@page
def key_metrics_page(request: HttpRequest) -> HttpResponse:
    """The levels the viewer reaches, with the top one open: the company for a company admin,
    else their first department or team."""
    viewer = viewer_of(request)
    tree = key_metrics.level_tree(viewer, viewer.company)
    return _render(request, viewer, tree.first(), tree)


@page
def key_metrics_unit(request: HttpRequest, kind: str, org_unit_id: int) -> HttpResponse:
    viewer = viewer_of(request)
    return _render(request, viewer, _unit_level(viewer, kind, org_unit_id))


@require_POST
@page
def key_metrics_hide(
    request: HttpRequest, kind: str, org_unit_id: int, kpi_id: int, hide: bool
) -> HttpResponse:
    """K6: the unit hides a KPI it inherits (for itself and below), or shows it again. Company
    admins always; its manager or lead when the company lets units define KPIs; nobody else (403)."""
    viewer = viewer_of(request)
    level = _unit_level(viewer, kind, org_unit_id)
    unit = {"department": level.department} if kind == Level.DEPARTMENT else {"team": level.team}
    if not kpi_access.may_hide_for(viewer, **unit):
        raise PermissionDenied
    kpi = kpi_access.visible_kpis(viewer).filter(id=kpi_id).first()
    if kpi is None:
        raise Http404
    name = localized(kpi, "name", content_languages(request.user, viewer.company))
    try:
        if hide:
            services.kpi_hide(kpi=kpi, actor=viewer, **unit)
            messages.success(
                request, _("“%(kpi)s” is hidden for %(unit)s.") % {"kpi": name, "unit": level.name}
            )
        else:
            services.kpi_unhide(kpi=kpi, actor=viewer, **unit)
            messages.success(
                request, _("“%(kpi)s” is shown again for %(unit)s.") % {"kpi": name, "unit": level.name}
            )
    except DomainError as error:
        for each in error.errors:
            messages.error(request, each.message)
    return redirect(level.url)


# --- A KPI of the unit's own level (K6) -----------------------------------------------------------------


class UnitKpiForm(forms.Form):
    """A KPI of one department or team, for the heads who define them there (K1, K5, K11): the
    fields a unit's KPI needs; the rest of K1–K11 stays at the services' defaults."""

    integration_name = forms.CharField(
        label=gettext_lazy("Integration field name"),
        required=False,
        help_text=gettext_lazy(
            "Letters, digits and _; the same in every language. Used to import KPI actions."
        ),
    )
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=KpiKind.choices, initial=KpiKind.PRIMARY)
    unit = forms.ModelChoiceField(label=gettext_lazy("Unit of measurement"), queryset=None, required=False)
    aggregation = forms.ChoiceField(
        label=gettext_lazy("How values combine"), choices=Aggregation.choices, initial=Aggregation.SUM
    )
    direction = forms.ChoiceField(
        label=gettext_lazy("Direction"), choices=Direction.choices, initial=Direction.HIGHER_IS_BETTER
    )
    active = forms.BooleanField(
        label=gettext_lazy("Active"),
        required=False,
        help_text=gettext_lazy("Only a KPI with every field filled in, in every language, can be active."),
    )

    def __init__(self, *args, company: Company, languages: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.languages = sorted(company.languages, key=lambda code: code != company.default_language)
        self.fields["unit"].queryset = unit_list()
        self.fields["unit"].label_from_instance = lambda unit: localized(unit, "name", languages) or str(unit)
        self.fields["unit"].empty_label = None
        for code in reversed(self.languages):
            language = LANGUAGE_NAMES.get(code, code)
            extra = {
                f"name_{code}": forms.CharField(
                    label=_("Name (%(language)s)") % {"language": language}, required=False
                ),
                f"description_{code}": forms.CharField(
                    label=_("Description and terms (%(language)s)") % {"language": language},
                    required=False,
                    strip=False,
                    widget=forms.Textarea(attrs={"rows": 3}),
                ),
            }
            self.fields = {**extra, **self.fields}

    def service_fields(self, level: MetricsLevel) -> dict:
        data = self.cleaned_data
        return {
            "name": {code: data[f"name_{code}"] for code in self.languages},
            "description": {code: data[f"description_{code}"] for code in self.languages},
            "integration_name": data["integration_name"],
            "kind": data["kind"],
            "unit": data["unit"],
            "aggregation": data["aggregation"],
            "direction": data["direction"],
            "status": KpiStatus.ACTIVE if data["active"] else KpiStatus.HIDDEN,
            "level": level.kind,
            "department": level.department if level.kind == Level.DEPARTMENT else None,
            "team": level.team,
        }

    def add_service_errors(self, error: DomainError) -> None:
        """The services' messages under the fields they are about ("name.en" → ``name_en``)."""
        for each in error.errors:
            name = (each.field or "").replace(".", "_")
            if name == "status":
                name = "active"
            self.add_error(name if name in self.fields else None, each.message)


@page
def key_metrics_add(request: HttpRequest, kind: str, org_unit_id: int) -> HttpResponse:
    """A KPI of this department or team (K6), for whoever may define KPIs there (403 otherwise)."""
    viewer = viewer_of(request)
    level = _unit_level(viewer, kind, org_unit_id)
    if not kpi_access.may_define_kpi(viewer, level=level.kind, department=level.department, team=level.team):
        raise PermissionDenied
    company = viewer.company
    languages = content_languages(request.user, company)
    form = UnitKpiForm(request.POST or None, company=company, languages=languages)
    if request.method == "POST" and form.is_valid():
        try:
            kpi = services.kpi_create(actor=viewer, **form.service_fields(level))
        except DomainError as error:
            form.add_service_errors(error)
        else:
            messages.success(
                request,
                _("“%(kpi)s” is a KPI of %(unit)s now.")
                % {"kpi": localized(kpi, "name", languages), "unit": level.name},
            )
            return redirect(level.url)
    return render(request, "orgs/key_metrics_add.html", {"level": level, "form": form})


# --- Who a KPI of the level reaches (K8) ---------------------------------------------------------------


@page
def key_metrics_audience(request: HttpRequest, kind: str, org_unit_id: int, kpi_id: int) -> HttpResponse:
    """Who receives a KPI of this department or team, or one it inherits (K8): everyone at the
    KPI's level, or chosen units and people within it. The admin's access form, for whoever may
    change the KPI (``kpis.access``; 403 otherwise); a KPI not in force here is not found."""
    viewer = viewer_of(request)
    level = _unit_level(viewer, kind, org_unit_id)
    kpi = kpi_access.visible_kpis(viewer).filter(key_metrics.level_candidates(level), id=kpi_id).first()
    if kpi is None:
        raise Http404
    if not kpi_access.may_change_kpi(viewer, kpi):
        raise PermissionDenied
    languages = content_languages(request.user, viewer.company)
    name = localized(kpi, "name", languages)
    form = AccessForm(request.POST or None, kpi=kpi)
    if request.method == "POST" and form.is_valid():
        try:
            services.kpi_set_audience(kpi=kpi, audience=form.audience(), actor=viewer)
        except DomainError as error:
            for each in error.errors:
                form.show_error(each)
        else:
            messages.success(request, _("Access to “%(name)s” saved.") % {"name": name})
            return redirect(level.url)
    return render(request, "orgs/key_metrics_audience.html", {"level": level, "form": form, "name": name})
