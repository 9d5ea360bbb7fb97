"""The web admin of KPI actions (PRODUCT R1–R5), for company admins.

* The list of recorded actions: person, KPI, value, points, source, who recorded it and whether it
  is voided, with filters (KPI, source, voided, date) and search (person, external id, comment).
* "Record an action" is the add form. It saves through ``services.actions_record`` (R3), so every
  rule of the service (value, status, audience, time, external id) shows as a form error with the
  service's own message, and nothing is written.
* Actions are never edited (R5): the change page is read-only; a wrong action is voided, one at a
  time (``<id>/void/``) or several with one reason (an admin action), through ``action_void``.
* KPIs get an admin action "Recalculate points" (R2), which starts a background recalculation
  (``services.recalculation_start``) and links to its progress, a read-only ``Recalculation`` page.
  The action is added to the registered ``KpiAdmin`` here rather than in ``kpis.admin``, which
  knows nothing of ratings.

Times are shown and entered in the company's time zone. Every page builds on
``kpi_platform.admin.CompanyModelAdmin``: company admins only, every queryset and choice scoped to
the request's company.
"""

import zoneinfo

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import quote, unquote
from django.contrib.admin.widgets import RelatedFieldWidgetWrapper
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from kpi_platform.admin import CompanyModelAdmin, ServiceModelForm, admin_member
from kpi_platform.errors import DomainError
from kpis.models import Kpi, KpiStatus
from orgs.models import Member
from orgs.selectors import company_get
from ratings import services
from ratings.models import ActionSource, KpiAction, Recalculation, RecalculationStatus

# The service names an item's fields as the API does; the form's person field is ``member``.
_FORM_FIELDS = {"user": "member"}
DUPLICATE = "duplicate"


def _company_time_zone(request: HttpRequest) -> zoneinfo.ZoneInfo:
    if not hasattr(request, "_ratings_tz"):
        request._ratings_tz = company_get().zone
    return request._ratings_tz


def _rendered_in_company_time(view):
    """Run an admin view, and render its response, in the company's time zone (R6 counts days
    there, so the form's "when" and the list's times are the company's)."""

    def wrapped(self, request: HttpRequest, *args, **kwargs):
        if not self.is_company_admin(request):
            return view(self, request, *args, **kwargs)
        with timezone.override(_company_time_zone(request)):
            response = view(self, request, *args, **kwargs)
            if hasattr(response, "render") and not response.is_rendered:
                response.render()
        return response

    return wrapped


# --- The form: "Record an action" ------------------------------------------------------------------


class KpiActionForm(ServiceModelForm):
    """Saved by ``actions_record`` only. The model's own validation (``_post_clean``) is skipped:
    it would repeat the service's checks with Django's wording, and the form never saves the
    instance itself."""

    class Meta:
        model = KpiAction
        fields = []  # the admin's fieldsets name them, per request (the choices are the company's)

    def _post_clean(self) -> None:
        pass


class VoidForm(forms.Form):
    # Not required here: the service says why an empty reason is refused.
    reason = forms.CharField(
        label=_("Reason"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60, "class": "vLargeTextField"}),
        help_text=_("Say why the action is voided; it stays in the list, marked, and stops counting."),
    )

    def show_error(self, error: DomainError) -> None:
        self.add_error("reason" if error.field == "reason" else None, error.message)


class CompanyKpiChoiceField(forms.ModelChoiceField):
    """Offers the Active KPIs, but accepts any KPI of the company, so that the service says why a
    hidden or archived one is refused (``kpi_inactive``). Another company's id is not found."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return Kpi.objects.get(pk=value)
        except (ValueError, TypeError, ValidationError, Kpi.DoesNotExist):
            raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice") from None


# --- Filters -------------------------------------------------------------------------------------------


class VoidedFilter(admin.SimpleListFilter):
    title = _("voided")
    parameter_name = "voided"

    def lookups(self, request: HttpRequest, model_admin):
        return [("no", _("Counting")), ("yes", _("Voided"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[KpiAction]):
        if self.value() == "no":
            return queryset.filter(voided_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(voided_at__isnull=False)
        return queryset


class KpiListFilter(admin.RelatedFieldListFilter):
    """The company's KPIs (the scoped manager), by name."""

    def field_choices(self, field, request: HttpRequest, model_admin):
        return [(kpi.pk, str(kpi)) for kpi in Kpi.objects.order_by("name", "id")]


# --- KPI actions ------------------------------------------------------------------------------------


@admin.register(KpiAction)
class KpiActionAdmin(CompanyModelAdmin):
    form = KpiActionForm
    list_display = [
        "when_column",
        "person_column",
        "kpi_column",
        "value_column",
        "points",
        "source_column",
        "voided_column",
    ]
    list_display_links = ["when_column"]
    list_filter = [("kpi", KpiListFilter), "source", VoidedFilter]
    list_select_related = ["member__user", "kpi__unit", "recorded_by__user"]
    search_fields = [
        "member__user__email",
        "member__user__first_name",
        "member__user__last_name",
        "external_id",
        "comment",
    ]
    date_hierarchy = "occurred_at"
    ordering = ["-occurred_at", "-id"]
    autocomplete_fields = ["member"]
    actions = ["void_selected"]
    import_kind = "actions"
    list_per_page = 50
    show_full_result_count = False  # a company may have millions of actions: no second count(*)
    change_form_template = "admin/ratings/kpiaction/change_form.html"
    change_list_template = "admin/ratings/kpiaction/change_list.html"

    add_fieldsets = [
        (None, {"fields": ["member", "kpi", "value", "occurred_at"]}),
        (_("More"), {"fields": ["comment", "external_id"]}),
    ]
    view_fieldsets = [
        (None, {"fields": ["member", "kpi", "value", "points", "occurred_at", "day"]}),
        (
            _("Where it came from"),
            {"fields": ["source", "recorded_by", "external_id", "comment", "created_at"]},
        ),
        (_("Voided"), {"fields": ["voided_at", "voided_by", "void_reason"]}),
    ]

    class Media:
        css = {"all": ["ratings/admin/ratings_admin.css"]}

    # Access: recorded actions are never changed or deleted (R5), only voided.

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_void_permission(self, request: HttpRequest, obj=None) -> bool:
        return self.is_company_admin(request)

    def get_queryset(self, request: HttpRequest) -> QuerySet[KpiAction]:
        return super().get_queryset(request).select_related(*self.list_select_related)

    # The list

    @admin.display(description=_("when"), ordering="occurred_at")
    def when_column(self, obj: KpiAction) -> str:
        return date_format(timezone.localtime(obj.occurred_at), "SHORT_DATETIME_FORMAT")

    @admin.display(description=_("person"), ordering="member__user__last_name")
    def person_column(self, obj: KpiAction) -> str:
        user = obj.member.user
        return format_html('<span title="{}">{}</span>', user.email, user.get_full_name() or user.email)

    @admin.display(description=_("KPI"), ordering="kpi__name")
    def kpi_column(self, obj: KpiAction) -> str:
        return str(obj.kpi)

    @admin.display(description=_("value"), ordering="value")
    def value_column(self, obj: KpiAction) -> str:
        return format_html('{} <span class="ratings-muted">{}</span>', _number(obj.value), obj.kpi.unit)

    @admin.display(description=_("source"), ordering="source")
    def source_column(self, obj: KpiAction) -> str:
        """Where the action came from on one line, what identifies it there and who recorded it below
        (one column: the list stays readable next to the filters)."""
        lines = [format_html("{}", obj.get_source_display())]
        if obj.external_id:
            lines.append(
                format_html(
                    '<span class="ratings-muted ratings-external-id" title="{}">{}</span>',
                    obj.external_id,
                    obj.external_id,
                )
            )
        if obj.recorded_by is not None:
            by = obj.recorded_by.user.get_full_name() or obj.recorded_by.user.email
            lines.append(
                format_html(
                    '<span class="ratings-muted">{}</span>', gettext("by %(person)s") % {"person": by}
                )
            )
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines))

    @admin.display(description=_("voided"), ordering="voided_at")
    def voided_column(self, obj: KpiAction) -> str:
        if obj.voided_at is not None:
            return format_html(
                '<span class="ratings-voided" title="{}">{}</span>', obj.void_reason, gettext("voided")
            )
        return format_html(
            '<a class="ratings-void-link" href="{}">{}</a>',
            reverse("admin:ratings_kpiaction_void", args=[quote(obj.pk)]),
            gettext("Void…"),
        )

    @_rendered_in_company_time
    def changelist_view(self, request: HttpRequest, extra_context=None):
        extra_context = {"title": gettext("KPI actions"), **(extra_context or {})}
        return super().changelist_view(request, extra_context)

    # The form

    def get_fieldsets(self, request: HttpRequest, obj=None):
        return self.add_fieldsets if obj is None else self.view_fieldsets

    def formfield_for_dbfield(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "value":
            # No limits here: the service says what is wrong with a value (value_invalid).
            return forms.CharField(  # the text as typed, for the one decimal parser (issue 17)
                label=_("Value"),
                widget=forms.TextInput(attrs={"class": "vTextField ratings-value", "inputmode": "decimal"}),
                help_text=_("A number ≥ 0 with at most two decimal places, in the KPI's unit."),
            )
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if formfield is not None and isinstance(formfield.widget, RelatedFieldWidgetWrapper):
            formfield.widget = formfield.widget.widget  # no adding or editing people or KPIs from here
        if db_field.name == "comment" and formfield is not None:
            formfield.widget.attrs.update(rows=3)
        if db_field.name == "occurred_at" and formfield is not None:
            formfield.help_text = _("In the company's time zone; not more than a day ahead.")
        return formfield

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "kpi":
            # The company's Active KPIs (K5): a hidden or archived one accepts no actions.
            kwargs["queryset"] = Kpi.objects.filter(
                status=KpiStatus.ACTIVE, archived_at__isnull=True
            ).order_by("name", "id")
            kwargs["form_class"] = CompanyKpiChoiceField
        elif db_field.name == "member":
            kwargs["queryset"] = Member.objects.filter(user__is_active=True).select_related("user")
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "kpi" and formfield is not None:
            formfield.help_text = _("The company's Active KPIs. The person must receive the KPI.")
        return formfield

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("occurred_at", timezone.now().replace(second=0, microsecond=0))
        return initial

    @_rendered_in_company_time
    def changeform_view(self, request: HttpRequest, object_id=None, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        extra_context.update(show_save_and_continue=False, show_save_and_add_another=True)
        if object_id is None:
            extra_context.setdefault("title", gettext("Record a KPI action"))
        elif self.is_company_admin(request):
            action = self.get_object(request, unquote(object_id))
            extra_context["can_void"] = action is not None and action.voided_at is None
            if action is not None:
                extra_context["subtitle"] = action_label(action)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_via_services(self, request: HttpRequest, form: KpiActionForm, change: bool) -> KpiAction:
        if change:
            raise PermissionDenied  # never reached: nobody may change a recorded action
        data = form.cleaned_data
        item = {
            # By integration name, so the service reads (and on PostgreSQL locks) the KPI itself.
            "kpi": data["kpi"].integration_name,
            "user": data["member"],
            "value": data["value"],
            "occurred_at": data["occurred_at"],
            "external_id": data.get("external_id") or None,
            "comment": data.get("comment") or None,
        }
        try:
            result = services.actions_record(
                items=[item], source=ActionSource.MANUAL, recorded_by=admin_member(request)
            )
        except DomainError as error:
            raise DomainError.many(
                DomainError(each.code, each.message, field=_FORM_FIELDS.get(each.field, each.field))
                for each in error.errors
            ) from error
        if result.duplicates:
            # R4: nothing new was recorded. Say so rather than report an addition.
            raise DomainError(
                DUPLICATE,
                gettext("This action is already recorded with the external id “%(id)s”.")
                % {"id": item["external_id"]},
                field="external_id",
            )
        return KpiAction.objects.get(id=result.results[0]["id"])

    # Voiding (R5): one action on its own page, or several with one reason.

    def get_urls(self):
        return [
            path(
                "<path:object_id>/void/",
                self.admin_site.admin_view(self.void_view),
                name="ratings_kpiaction_void",
            ),
            *super().get_urls(),
        ]

    @_rendered_in_company_time
    def void_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_void_permission(request):
            raise PermissionDenied
        action = self.get_object(request, unquote(object_id))
        if action is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        form = VoidForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid() and action.voided_at is None:
            try:
                services.action_void(
                    action=action, reason=form.cleaned_data["reason"], voided_by=admin_member(request)
                )
            except DomainError as error:
                for each in error.errors:
                    form.show_error(each)
            else:
                self.message_user(request, gettext("The action was voided."), messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse("admin:ratings_kpiaction_change", args=[quote(action.pk)])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Void a KPI action"),
            "subtitle": None,
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "original": action,
            "action_label": action_label(action),
            "actions_to_void": [action],
            "form": form,
            "single": True,
            "media": self.media + form.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/ratings/kpiaction/void.html", context)

    @admin.action(description=_("Void selected actions…"), permissions=["void"])
    def void_selected(self, request: HttpRequest, queryset: QuerySet[KpiAction]):
        to_void = list(queryset.filter(voided_at__isnull=True).select_related("member__user", "kpi__unit"))
        if not to_void:
            self.message_user(
                request, gettext("No action was voided: they are voided already."), messages.WARNING
            )
            return None
        form = VoidForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            voided_by = admin_member(request)
            try:
                with transaction.atomic():  # all of them or none
                    for action in to_void:
                        services.action_void(
                            action=action, reason=form.cleaned_data["reason"], voided_by=voided_by
                        )
            except DomainError as error:
                for each in error.errors:
                    form.show_error(each)
            else:
                self.message_user(
                    request,
                    ngettext("Voided %(count)d action.", "Voided %(count)d actions.", len(to_void))
                    % {"count": len(to_void)},
                    messages.SUCCESS,
                )
                return None
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Void KPI actions"),
            "subtitle": None,
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "actions_to_void": to_void,
            "form": form,
            "single": False,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media + form.media,
        }
        with timezone.override(_company_time_zone(request)):
            return TemplateResponse(request, "admin/ratings/kpiaction/void.html", context).render()


def action_label(action: KpiAction) -> str:
    """How a page names an action: its KPI, its person and when."""
    return gettext("%(kpi)s · %(person)s · %(when)s") % {
        "kpi": action.kpi,
        "person": action.member.user.get_full_name() or action.member.user.email,
        "when": date_format(timezone.localtime(action.occurred_at), "SHORT_DATETIME_FORMAT"),
    }


def _number(value) -> str:
    """A value as people read it: grouped, without ".00" when whole (12, 1 250 000.50)."""
    if value is None:
        return ""
    places = 0 if value == value.to_integral_value() else 2
    return number_format(value, decimal_pos=places, use_l10n=True, force_grouping=True)


# --- KPIs: "Recalculate points" (R2) ------------------------------------------------------------------
# An action of the KPI list, which belongs to kpis (``kpi_platform.hooks.admin_actions``).


@admin.action(description=_("Recalculate points with the current ratio"))
def recalculate_points(modeladmin, request: HttpRequest, queryset: QuerySet[Kpi]) -> None:
    """Start a background recalculation of each selected KPI's past points (R2)."""
    actor = admin_member(request)
    for kpi in queryset:
        try:
            recalculation = services.recalculation_start(kpi=kpi, actor=actor)
        except DomainError as error:
            for each in error.errors:
                modeladmin.message_user(request, f"{kpi}: {each.message}", messages.ERROR)
            continue
        message = format_html(
            '{} <a href="{}">{}</a>',
            gettext("Recalculating the points of “%(kpi)s” in the background.") % {"kpi": kpi},
            _recalculation_url(recalculation),
            gettext("See the progress"),
        )
        modeladmin.message_user(request, message, messages.SUCCESS)


def _recalculation_url(recalculation) -> str:
    return reverse("admin:ratings_recalculation_change", args=[quote(recalculation.pk)])


@admin.register(Recalculation)
class RecalculationAdmin(CompanyModelAdmin):
    """The progress of the background recalculations (R2): read-only, started from the KPI list."""

    list_display = ["kpi", "status", "progress", "requested_by_column", "created_at", "finished_at"]
    list_filter = ["status"]
    list_select_related = ["kpi", "requested_by__user"]
    ordering = ["-id"]
    fields = ["kpi", "status", "progress", "requested_by", "created_at", "started_at", "finished_at", "error"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # started with the KPI list's action "Recalculate points"

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description=_("progress"))
    def progress(self, obj: Recalculation) -> str:
        if not obj.total:
            return "—" if obj.status == RecalculationStatus.QUEUED else f"{obj.done}"
        return f"{obj.done} / {obj.total} ({obj.done * 100 // obj.total}%)"

    @admin.display(description=_("requested by"))
    def requested_by_column(self, obj: Recalculation) -> str:
        return str(obj.requested_by.user) if obj.requested_by is not None else "—"

    @_rendered_in_company_time
    def changelist_view(self, request: HttpRequest, extra_context=None):
        extra_context = {"title": gettext("Recalculations"), **(extra_context or {})}
        return super().changelist_view(request, extra_context)

    @_rendered_in_company_time
    def changeform_view(self, request: HttpRequest, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, extra_context)
