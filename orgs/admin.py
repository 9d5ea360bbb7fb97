"""The admin of the organization (PRODUCT O5, O6), API tokens (I2) and companies (O1).

Company admins manage their own company's departments, teams, people and API tokens; platform
operators manage companies and see no company's data. Access, scoping and the service-backed saves
come from ``kpi_platform.admin``.
"""

import zoneinfo

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import csrf_protect_m
from django.contrib.admin.utils import unquote
from django.contrib.admin.widgets import AutocompleteSelectMultiple
from django.contrib.auth import password_validation
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from kpi_platform.admin import (
    CompanyModelAdmin,
    PlatformModelAdmin,
    ServiceModelForm,
    admin_member,
    show_domain_error,
)
from kpi_platform.errors import DomainError
from kpi_platform.ids import parse_id
from orgs import services
from orgs.models import ApiToken, Company, Department, Member, ReportFrequency, Role, Team, TokenScope
from orgs.selectors import company_get


class TeamChoiceField(forms.ModelChoiceField):
    """Team names are unique within a department only: show which department."""

    def label_from_instance(self, obj: Team) -> str:
        return f"{obj.department} / {obj}"


def _teams() -> QuerySet[Team]:
    return Team.objects.select_related("department").order_by("department__name", "name", "id")


def _people() -> QuerySet[Member]:
    return Member.objects.select_related("user").order_by("user__email")


def _member_list(members) -> str:
    return ", ".join(str(member) for member in members) or "-"


# --- Companies (platform operators) --------------------------------------------------------------


def _time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


class CompanyForm(forms.ModelForm):
    time_zone = forms.ChoiceField(label=_("Time zone"), choices=_time_zone_choices, initial="UTC")
    default_language = forms.ChoiceField(label=_("Default language"), choices=settings.LANGUAGES)
    languages = forms.MultipleChoiceField(
        label=_("Enabled content languages"),
        choices=settings.LANGUAGES,
        widget=forms.CheckboxSelectMultiple,
    )
    # D5. Optional in the form: left out, a company keeps the model's defaults (weekly, 8:00).
    report_frequency = forms.TypedChoiceField(
        label=_("KPI report e-mail"),
        choices=ReportFrequency.choices,
        required=False,
        empty_value=ReportFrequency.WEEKLY,
        initial=ReportFrequency.WEEKLY,
    )
    report_hour = forms.TypedChoiceField(
        label=_("Hour of the KPI report"),
        choices=[(hour, f"{hour:02d}:00") for hour in range(24)],
        coerce=int,
        required=False,
        empty_value=8,
        initial=8,
        help_text=_("In the company's time zone."),
    )

    class Meta:
        model = Company
        fields = [
            "name",
            "slug",
            "time_zone",
            "default_language",
            "languages",
            "primary_frequency",
            "secondary_frequency",
            "units_define_kpis",
            "self_reporting",
            "report_frequency",
            "report_hour",
        ]


@admin.register(Company)
class CompanyAdmin(PlatformModelAdmin):
    form = CompanyForm
    list_display = [
        "name",
        "slug",
        "time_zone",
        "default_language",
        "language_list",
        "primary_frequency",
        "secondary_frequency",
    ]
    search_fields = ["name", "slug"]
    ordering = ["name"]

    @admin.display(description=_("languages"))
    def language_list(self, obj: Company) -> str:
        return ", ".join(obj.languages)

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return ["slug"] if obj is not None else []  # the tenant's handle in commands and scripts

    def get_prepopulated_fields(self, request: HttpRequest, obj=None):
        return {} if obj is not None else {"slug": ("name",)}

    def save_model(self, request: HttpRequest, obj: Company, form, change: bool) -> None:
        fields = {field: form.cleaned_data[field] for field in services.COMPANY_SETTINGS}
        if change:
            company = services.company_update(company=Company.objects.get(pk=obj.pk), **fields)
        else:
            company, _created = services.company_create(slug=form.cleaned_data["slug"], **fields)
        obj.__dict__.update(company.__dict__)


# --- Deleting a department or a team (O6) ---------------------------------------------------------


class OrgUnitDeletionForm(forms.Form):
    """Where the people of the deleted units go; the field is made for the units at hand."""

    def __init__(self, *args, move_to: forms.ModelChoiceField, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["move_to"] = move_to


class OrgUnitDeletionMixin:
    """Deleting a department or a team shows what it affects, lets the admin choose where its
    people go, and deletes through the service: no person and no record is lost (O6).

    Replaces both the delete page and the "delete selected" action.
    """

    deletion_template = "admin/orgs/org_unit_delete_confirmation.html"

    def deletion_summary(self, org_unit) -> services.DeletionSummary:
        raise NotImplementedError

    def delete_org_unit(self, org_unit, move_to) -> services.DeletionSummary:
        raise NotImplementedError

    def move_to_field(self, org_units: list) -> forms.ModelChoiceField:
        raise NotImplementedError

    def kept_message(self, people: int, move_to) -> str:
        raise NotImplementedError

    def delete_model(self, request: HttpRequest, obj) -> None:
        self.delete_org_unit(obj, None)

    @csrf_protect_m
    def delete_view(self, request: HttpRequest, object_id: str, extra_context=None) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        if not self.has_delete_permission(request, obj):
            raise PermissionDenied
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        response = self._confirm_deletion(request, [obj], confirmed=request.method == "POST", single=True)
        if response is None:
            return HttpResponseRedirect(
                reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
            )
        return response

    @admin.action(description=_("Delete selected %(verbose_name_plural)s…"), permissions=["delete"])
    def delete_selected(self, request: HttpRequest, queryset: QuerySet):
        return self._confirm_deletion(request, list(queryset), confirmed="post" in request.POST, single=False)

    def _confirm_deletion(self, request: HttpRequest, org_units: list, *, confirmed: bool, single: bool):
        if not org_units:
            self.message_user(request, gettext("No items were deleted."), messages.WARNING)
            return None
        form = OrgUnitDeletionForm(request.POST if confirmed else None, move_to=self.move_to_field(org_units))
        if form.is_bound and form.is_valid():
            move_to = form.cleaned_data["move_to"]
            try:
                with transaction.atomic():
                    self.log_deletions(request, org_units)
                    summaries = [self.delete_org_unit(org_unit, move_to) for org_unit in org_units]
            except DomainError as error:
                show_domain_error(form, error)
            else:
                names = ", ".join(f"“{org_unit}”" for org_unit in org_units)
                people = sum(summary.members for summary in summaries)
                self.message_user(
                    request,
                    gettext("Deleted %(units)s. %(kept)s")
                    % {"units": names, "kept": self.kept_message(people, move_to)},
                    messages.SUCCESS,
                )
                return None
        rows = [(org_unit, self.deletion_summary(org_unit)) for org_unit in org_units]
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Delete %(name)s") % {"name": org_units[0]}
            if single
            else gettext("Delete %(count)d %(name)s")
            % {"count": len(org_units), "name": self.opts.verbose_name_plural},
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "object": org_units[0] if single else None,
            "single": single,
            "rows": rows,
            "shows_teams": self.model is Department,
            "total_teams": sum(summary.teams for _unit, summary in rows),
            "total_people": sum(summary.members for _unit, summary in rows),
            "total_kpis": sum(summary.kpis for _unit, summary in rows),
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, self.deletion_template, context)


# --- Departments ---------------------------------------------------------------------------------


class DepartmentForm(ServiceModelForm):
    managers = forms.ModelMultipleChoiceField(
        label=_("Managers"),
        queryset=None,
        required=False,
        widget=AutocompleteSelectMultiple(Department._meta.get_field("managers"), admin.site),
        help_text=_("People of this company who manage the department (and everything in it)."),
    )

    class Meta:
        model = Department
        fields = ["name", "managers"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["managers"].queryset = _people()


@admin.register(Department)
class DepartmentAdmin(OrgUnitDeletionMixin, CompanyModelAdmin):
    form = DepartmentForm
    list_display = ["name", "manager_list", "team_count", "people_count"]
    search_fields = ["name"]
    ordering = ["name"]
    actions = ["delete_selected"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Department]:
        queryset = super().get_queryset(request)
        if not self.is_company_admin(request):
            return queryset
        return queryset.annotate(
            team_count=Count("teams", distinct=True), people_count=Count("members", distinct=True)
        ).prefetch_related(Prefetch("managers", queryset=_people()))

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return ["team_list"] if obj is not None else []

    @admin.display(description=_("managers"))
    def manager_list(self, obj: Department) -> str:
        return _member_list(obj.managers.all())

    @admin.display(description=_("teams"), ordering="team_count")
    def team_count(self, obj: Department) -> int:
        return obj.team_count

    @admin.display(description=_("people"), ordering="people_count")
    def people_count(self, obj: Department) -> int:
        return obj.people_count

    @admin.display(description=_("teams"))
    def team_list(self, obj: Department) -> str:
        teams = format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            ((reverse("admin:orgs_team_change", args=[team.pk]), team.name) for team in obj.teams.all()),
        )
        add_url = f"{reverse('admin:orgs_team_add')}?department={obj.pk}"
        return format_html(
            '{}<br><a class="addlink" href="{}">{}</a>', teams or "-", add_url, _("Add a team")
        )

    def save_via_services(self, request: HttpRequest, form, change: bool) -> Department:
        data = form.cleaned_data
        managers = list(data["managers"])
        if not change:
            return services.department_create(name=data["name"], managers=managers)
        department = Department.objects.get(pk=form.instance.pk)
        return services.department_update(department=department, name=data["name"], managers=managers)

    # O6

    def deletion_summary(self, org_unit: Department) -> services.DeletionSummary:
        return services.department_deletion_summary(department=org_unit)

    def delete_org_unit(self, org_unit: Department, move_to: Department | None) -> services.DeletionSummary:
        return services.department_delete(department=org_unit, move_to=move_to)

    def move_to_field(self, org_units: list[Department]) -> forms.ModelChoiceField:
        return forms.ModelChoiceField(
            queryset=Department.objects.exclude(pk__in=[org_unit.pk for org_unit in org_units]).order_by(
                "name"
            ),
            required=False,
            label=_("Move their people to"),
            empty_label=_("No department: they become unassigned"),
        )

    def kept_message(self, people: int, move_to: Department | None) -> str:
        if move_to is not None:
            return ngettext(
                "%(count)d person moved to %(unit)s.", "%(count)d people moved to %(unit)s.", people
            ) % {"count": people, "unit": move_to}
        return ngettext(
            "%(count)d person is now without a department.",
            "%(count)d people are now without a department.",
            people,
        ) % {"count": people}


# --- Teams ---------------------------------------------------------------------------------------


class TeamForm(ServiceModelForm):
    leads = forms.ModelMultipleChoiceField(
        label=_("Leads"),
        queryset=None,
        required=False,
        widget=AutocompleteSelectMultiple(Team._meta.get_field("leads"), admin.site),
        help_text=_("People of this company who lead the team."),
    )

    class Meta:
        model = Team
        # The department field is made per request by TeamAdmin (get_fields): a form made at
        # import time would read the company-scoped managers outside any company.
        fields = ["name", "leads"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["leads"].queryset = _people()


@admin.register(Team)
class TeamAdmin(OrgUnitDeletionMixin, CompanyModelAdmin):
    form = TeamForm
    list_display = ["name", "department", "lead_list", "people_count"]
    list_filter = ["department"]
    list_select_related = ["department"]
    search_fields = ["name", "department__name"]
    ordering = ["department__name", "name"]
    actions = ["delete_selected"]

    def get_fields(self, request: HttpRequest, obj=None):
        return ["name", "department", "leads"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        queryset = super().get_queryset(request)
        if not self.is_company_admin(request):
            return queryset
        return queryset.annotate(people_count=Count("members", distinct=True)).prefetch_related(
            Prefetch("leads", queryset=_people())
        )

    @admin.display(description=_("leads"))
    def lead_list(self, obj: Team) -> str:
        return _member_list(obj.leads.all())

    @admin.display(description=_("people"), ordering="people_count")
    def people_count(self, obj: Team) -> int:
        return obj.people_count

    def save_via_services(self, request: HttpRequest, form, change: bool) -> Team:
        data = form.cleaned_data
        leads = list(data["leads"])
        if not change:
            return services.team_create(name=data["name"], department=data["department"], leads=leads)
        team = Team.objects.get(pk=form.instance.pk)
        return services.team_update(team=team, name=data["name"], department=data["department"], leads=leads)

    # O6

    def deletion_summary(self, org_unit: Team) -> services.DeletionSummary:
        return services.team_deletion_summary(team=org_unit)

    def delete_org_unit(self, org_unit: Team, move_to: Team | None) -> services.DeletionSummary:
        return services.team_delete(team=org_unit, move_to=move_to)

    def move_to_field(self, org_units: list[Team]) -> forms.ModelChoiceField:
        return TeamChoiceField(
            queryset=_teams().exclude(pk__in=[org_unit.pk for org_unit in org_units]),
            required=False,
            label=_("Move their people to"),
            empty_label=_("No team: they stay in the department"),
        )

    def kept_message(self, people: int, move_to: Team | None) -> str:
        if move_to is not None:
            return ngettext(
                "%(count)d person moved to %(unit)s.", "%(count)d people moved to %(unit)s.", people
            ) % {"count": people, "unit": f"{move_to.department} / {move_to}"}
        return ngettext(
            "%(count)d person is now without a team.", "%(count)d people are now without a team.", people
        ) % {"count": people}


# --- People --------------------------------------------------------------------------------------

# What member_update takes; the form passes only those that changed.
MEMBER_FIELDS = (
    "email",
    "first_name",
    "last_name",
    "language",
    "is_active",
    "role",
    "department",
    "team",
    "external_id",
)
USER_FIELDS = ("email", "first_name", "last_name", "language", "is_active")


class MemberForm(ServiceModelForm):
    email = forms.EmailField(label=_("E-mail"), max_length=254)
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    language = forms.ChoiceField(label=_("Language"), required=False)
    is_active = forms.BooleanField(
        label=_("Active"),
        required=False,
        initial=True,
        help_text=_("Inactive people cannot sign in; everything recorded for them stays."),
    )

    class Meta:
        model = Member
        # department and team come from MemberAdmin's fieldsets, made per request (see TeamForm).
        fields = ["role", "external_id"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        names = dict(settings.LANGUAGES)
        codes = list(company_get().languages)
        if self.instance.pk is not None:
            user = self.instance.user
            for name in USER_FIELDS:
                self.initial.setdefault(name, getattr(user, name))
            if user.language and user.language not in codes:
                codes.append(user.language)
        self.fields["language"].choices = [
            ("", _("The company's default")),
            *((code, names.get(code, code)) for code in codes),
        ]

    def _is_self(self) -> bool:
        return self.admin_member is not None and self.instance.pk == self.admin_member.pk

    def clean_role(self) -> str:
        role = self.cleaned_data["role"]
        if self._is_self() and role != Role.ADMIN:
            raise ValidationError(_("You cannot take away your own administrator role."))
        return role

    def clean_is_active(self) -> bool:
        is_active = self.cleaned_data["is_active"]
        if self._is_self() and not is_active:
            raise ValidationError(_("You cannot deactivate yourself."))
        return is_active


class MemberAddForm(MemberForm):
    password = forms.CharField(
        label=_("Password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("Optional. Without one the person cannot sign in until a password is set."),
    )

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if password:
            password_validation.validate_password(password)
        return password


class ManagesFilter(admin.SimpleListFilter):
    """Managers per level (O5): who manages a department or leads a team."""

    title = _("manages")
    parameter_name = "manages"

    def lookups(self, request: HttpRequest, model_admin):
        departments = [
            (f"department:{department.pk}", gettext("Department %(name)s") % {"name": department})
            for department in Department.objects.order_by("name")
        ]
        teams = [
            (f"team:{team.pk}", gettext("Team %(name)s") % {"name": f"{team.department} / {team}"})
            for team in _teams()
        ]
        return [("any", _("Any department or team")), *departments, *teams]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Member]) -> QuerySet[Member]:
        value = self.value()
        if value is None:
            return queryset
        if value == "any":
            return queryset.filter(
                Q(managed_departments__isnull=False) | Q(led_teams__isnull=False)
            ).distinct()
        kind, _sep, raw_id = value.partition(":")
        unit_id = parse_id(raw_id)
        if unit_id is None:
            return queryset.none()
        if kind == "department":
            return queryset.filter(managed_departments__id=unit_id)
        if kind == "team":
            return queryset.filter(led_teams__id=unit_id)
        return queryset.none()


class TeamListFilter(admin.RelatedFieldListFilter):
    def field_choices(self, field, request: HttpRequest, model_admin):
        return [(team.pk, f"{team.department} / {team}") for team in _teams()]


class MoveToTeamForm(forms.Form):
    team = TeamChoiceField(label=_("Team"), queryset=None)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = _teams()


@admin.register(Member)
class MemberAdmin(CompanyModelAdmin):
    form = MemberForm
    add_form = MemberAddForm
    fieldsets = [
        (None, {"fields": ["email", "first_name", "last_name", "language", "is_active"]}),
        (_("Place in the company"), {"fields": ["role", "department", "team", "external_id"]}),
    ]
    add_fieldsets = [
        (None, {"fields": ["email", "first_name", "last_name", "language", "is_active", "password"]}),
        (_("Place in the company"), {"fields": ["role", "department", "team", "external_id"]}),
    ]
    list_display = ["email", "full_name", "role", "department", "team", "manages", "is_active"]
    list_display_links = ["email"]
    list_filter = ["role", ManagesFilter, "department", ("team", TeamListFilter), "user__is_active"]
    search_fields = ["user__email", "user__first_name", "user__last_name", "external_id"]
    ordering = ["user__email"]
    actions = ["move_to_team"]
    import_kind = "members"
    change_list_template = "admin/orgs/member/change_list.html"

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # people are never deleted (O6): make them inactive instead

    def get_queryset(self, request: HttpRequest) -> QuerySet[Member]:
        # The changelist skips list_select_related when the queryset has a select_related.
        queryset = super().get_queryset(request).select_related("user", "department", "team__department")
        if not self.is_company_admin(request):
            return queryset
        return queryset.prefetch_related(
            Prefetch("managed_departments", queryset=Department.objects.order_by("name")),
            Prefetch("led_teams", queryset=_teams()),
        )

    def get_fieldsets(self, request: HttpRequest, obj=None):
        return self.fieldsets if obj is not None else self.add_fieldsets

    def get_form(self, request: HttpRequest, obj=None, change: bool = False, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change=change, **kwargs)

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "team":
            kwargs.setdefault("queryset", _teams())
            kwargs.setdefault("form_class", TeamChoiceField)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description=_("e-mail"), ordering="user__email")
    def email(self, obj: Member) -> str:
        return obj.user.email

    @admin.display(description=_("name"), ordering="user__last_name")
    def full_name(self, obj: Member) -> str:
        return obj.user.get_full_name()

    @admin.display(description=_("manages"))
    def manages(self, obj: Member) -> str:
        org_units = [str(department) for department in obj.managed_departments.all()]
        org_units += [f"{team.department} / {team}" for team in obj.led_teams.all()]
        return ", ".join(org_units) or "-"

    @admin.display(description=_("active"), boolean=True, ordering="user__is_active")
    def is_active(self, obj: Member) -> bool:
        return obj.user.is_active

    def save_via_services(self, request: HttpRequest, form, change: bool) -> Member:
        data = form.cleaned_data
        if not change:
            return services.member_create(
                email=data["email"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                role=data["role"],
                department=data["department"],
                team=data["team"],
                external_id=data["external_id"],
                language=data["language"],
                is_active=data["is_active"],
                password=data.get("password") or None,
            )
        member = Member.objects.select_related("user", "department", "team").get(pk=form.instance.pk)
        changes = {name: data[name] for name in MEMBER_FIELDS if name in form.changed_data}
        return services.member_update(member=member, **changes)

    @admin.action(description=_("Move selected people to a team…"))
    def move_to_team(self, request: HttpRequest, queryset: QuerySet[Member]):
        people = list(queryset)
        if not people:
            self.message_user(request, gettext("Nobody was moved."), messages.WARNING)
            return None
        form = MoveToTeamForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            team = form.cleaned_data["team"]
            moved = services.members_move(members=people, team=team)
            self.message_user(
                request,
                ngettext("Moved %(count)d person to %(team)s.", "Moved %(count)d people to %(team)s.", moved)
                % {"count": moved, "team": f"{team.department} / {team}"},
                messages.SUCCESS,
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Move people to a team"),
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "people": people,
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/orgs/member/move_to_team.html", context)


# --- API tokens (I2) ------------------------------------------------------------------------------

TOKEN_DETAIL_FIELDS = [
    "name",
    "prefix",
    "scope_list",
    "created_by",
    "created_at",
    "last_used_at",
    "revoked_at",
]


class ApiTokenForm(ServiceModelForm):
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"),
        choices=TokenScope.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("What the token may do through the API."),
    )

    class Meta:
        model = ApiToken
        fields = ["name", "scopes"]


class TokenStatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin):
        return [("active", _("Active")), ("revoked", _("Revoked"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> QuerySet[ApiToken]:
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(CompanyModelAdmin):
    """Tokens are created (the secret is shown once, on the page that answers the form), looked
    at and revoked; never edited, never deleted (their use stays traceable)."""

    form = ApiTokenForm
    list_display = TOKEN_DETAIL_FIELDS
    list_filter = [TokenStatusFilter]
    list_select_related = ["created_by__user"]
    search_fields = ["name", "prefix"]
    ordering = ["-created_at"]
    actions = ["revoke"]

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_fields(self, request: HttpRequest, obj=None):
        return ["name", "scopes"] if obj is None else list(TOKEN_DETAIL_FIELDS)

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [] if obj is None else list(TOKEN_DETAIL_FIELDS)

    @admin.display(description=_("scopes"))
    def scope_list(self, obj: ApiToken) -> str:
        labels = dict(TokenScope.choices)
        return ", ".join(str(labels.get(scope, scope)) for scope in obj.scopes)

    def save_via_services(self, request: HttpRequest, form, change: bool) -> ApiToken:
        new = services.api_token_create(
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            created_by=admin_member(request),
        )
        new.token.secret_shown_once = new.secret  # for response_add only; never stored
        return new.token

    def response_add(self, request: HttpRequest, obj: ApiToken, post_url_continue=None) -> HttpResponse:
        # The secret is in this response only: no redirect, no message, no session (I2).
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("API token created"),
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "token": obj,
            "secret": obj.__dict__.pop("secret_shown_once"),
        }
        return TemplateResponse(request, "admin/orgs/apitoken/created.html", context)

    @admin.action(description=_("Revoke selected API tokens"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        tokens = list(queryset.filter(revoked_at__isnull=True))
        for token in tokens:
            services.api_token_revoke(token=token)
        self.message_user(
            request,
            ngettext("Revoked %(count)d API token.", "Revoked %(count)d API tokens.", len(tokens))
            % {"count": len(tokens)},
            messages.SUCCESS,
        )
