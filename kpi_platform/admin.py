"""The web admin (PRODUCT O2, O4): company administrators manage their own company, platform
operators manage companies, and nobody else gets in.

* Who may do what follows from the role (``orgs.access``), never from Django's permission tables:
  ``CompanyModelAdmin`` is for the admins of the request's company, ``PlatformModelAdmin`` for
  superusers without a company.
* A ``CompanyModelAdmin`` reads through the company-scoped managers only, so a row of another
  company is "not found" on every page: lists, forms, choices, filters, autocomplete and actions.
* Writes go through services (STYLE section 4): ``save_via_services`` is the one place an admin
  writes. A form rehearses it while validating, so a service's ``DomainError`` shows as a form
  error and not as a 500.

Other apps build their admins on ``CompanyModelAdmin`` and ``ServiceModelForm``.
"""

from functools import partial

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import admin as auth_admin  # noqa: F401 - registers Group; see below
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.functional import lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from kpi_platform import hooks
from kpi_platform.errors import DomainError
from kpi_platform.rehearsal import rehearse
from orgs import access
from orgs.forms import AdminEmailAuthenticationForm
from orgs.models import Company, Member
from orgs.tenancy import current_company_id_or_none

# --- The site ------------------------------------------------------------------------------------


def _index_title() -> str:
    company_id = current_company_id_or_none()
    if company_id is None:
        return gettext("Platform administration")
    name = Company.objects.filter(id=company_id).values_list("name", flat=True).first()
    return gettext("%(company)s administration") % {"company": name}


admin.site.site_header = _("KPI Platform")
# Signs in by e-mail like the site, asking which company when the password opens several (issue 17).
admin.site.login_form = AdminEmailAuthenticationForm
admin.site.site_title = _("KPI Platform admin")
# Read when a page renders, inside the request's company context.
admin.site.index_title = lazy(_index_title, str)()

# Groups are global and the roles make them useless. ``auth_admin`` is imported above so that it
# has registered Group before this line, whichever app's admin module autodiscover loads first.
admin.site.unregister(Group)


# --- Who is asking -------------------------------------------------------------------------------


def admin_member(request: HttpRequest) -> Member | None:
    """The company admin behind ``request`` (O4), or None. Cached on the request."""
    if not hasattr(request, "_admin_member"):
        request._admin_member = _find_admin_member(request)
    return request._admin_member


def _find_admin_member(request: HttpRequest) -> Member | None:
    user = request.user
    company_id = getattr(user, "company_id", None)
    if not (user.is_active and user.is_staff and company_id):
        return None
    if current_company_id_or_none() != company_id:
        return None  # CompanyMiddleware sets the user's company; anything else is not a page of ours
    member = Member.objects.select_related("user").filter(user_id=user.pk).first()
    return member if access.is_company_admin(member) else None


def is_platform_operator(request: HttpRequest) -> bool:
    """A superuser of no company (PRODUCT: platform operators create companies, nothing else)."""
    user = request.user
    return bool(
        user.is_active
        and user.is_superuser
        and getattr(user, "company_id", None) is None
        and current_company_id_or_none() is None
    )


# --- Forms whose save is a service call ----------------------------------------------------------


class ServiceModelForm(forms.ModelForm):
    """A model form saved by a service. Its validation ends with a rehearsal of that save in a
    savepoint that is always rolled back, so the service's own rules (``DomainError``, a model's
    ``ValidationError``) become form errors before anything is written.

    ``rehearse`` and ``admin_member`` are set by ``CompanyModelAdmin.get_form``.
    """

    rehearse = None
    admin_member: Member | None = None

    def clean(self):
        cleaned_data = super().clean()
        if self.rehearse is not None and not self._errors:
            try:
                rehearse(partial(self.rehearse, self))
            except DomainError as refusal:
                for error in refusal.errors:
                    show_domain_error(self, error)
            except ValidationError as error:
                self.add_service_validation_error(error)
        return cleaned_data

    def add_service_validation_error(self, error: ValidationError) -> None:
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for field, errors in error.error_dict.items():
            self.add_error(field if field in self.fields else None, errors)


def show_domain_error(form: forms.Form, error: DomainError) -> None:
    """A service refused a form's input: show why next to the field it names.

    A localized field's error names its language (``name.ru``); the form's field is ``name_ru``.
    """
    field = error.field.replace(".", "_") if error.field else None
    if field not in form.fields:
        field = error.field if error.field in form.fields else None
    named = getattr(form, "field_named", None)  # a form whose fields are not the service's names
    if field is None and error.field and named is not None:
        field = named(error.field)
    form.add_error(field, error.message)


# --- Model admins --------------------------------------------------------------------------------


class CompanyModelAdmin(admin.ModelAdmin):
    """The admin of a company-owned model (``CompanyScopedModel``), for company admins only.

    Subclasses implement ``save_via_services`` (and ``delete_model``/``delete_queryset``, or deny
    deleting). Every queryset starts from the model's company-scoped ``objects``; related-field
    choices, list filters and autocomplete use the same managers.
    """

    form = ServiceModelForm
    save_as = False
    # The kind of file (``integrations.models.ImportKind``) the list's "Import" button uploads: a
    # background import job, run by the worker, never an import inside the request (PRODUCT I3).
    import_kind: str | None = None

    # Access: by role, and only inside the admin's own company.

    def is_company_admin(self, request: HttpRequest) -> bool:
        return admin_member(request) is not None

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.is_company_admin(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return self.is_company_admin(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.is_company_admin(request)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return self.is_company_admin(request)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return self.is_company_admin(request)

    def get_queryset(self, request: HttpRequest) -> models.QuerySet:
        if not self.is_company_admin(request):
            return self.model.dangerously_unscoped.none()
        queryset = self.model.objects.all()  # scoped to the request's company
        ordering = self.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset

    def _get_base_actions(self):
        # Django's list of actions (the site's, then ``actions``), then those that higher apps
        # add to this model's list (``hooks.admin_actions``), which this admin cannot import.
        actions = super()._get_base_actions()
        names = {name for _func, name, _description in actions}
        for action in hooks.admin_actions.of(self.model):
            func, name, description = self.get_action(action)
            if name not in names:
                actions.append((func, name, description))
        return actions

    # Writes: services only.

    def save_via_services(self, request: HttpRequest, form: forms.ModelForm, change: bool) -> models.Model:
        """Create or update the row from ``form.cleaned_data`` with a service; return it.

        Called twice per save: as a rehearsal while the form validates (rolled back), then for
        real from ``save_model``. Read the row again from the database here rather than use
        ``form.instance``, which the form has already changed.
        """
        raise NotImplementedError(f"{type(self).__name__} must save through a service")

    def get_form(self, request: HttpRequest, obj=None, change: bool = False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        # modelform_factory made a new class for this request: class attributes are safe here.
        form.admin_member = admin_member(request)
        if issubclass(form, ServiceModelForm):
            form.rehearse = staticmethod(partial(self.save_via_services, request, change=change))
        return form

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        saved = self.save_via_services(request, form, change)
        # The admin goes on with ``obj`` (log entry, redirect): make it the row the service wrote.
        obj.__dict__.update(saved.__dict__)

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        """The service wrote the many-to-many links too; ``form.save_m2m()`` would bypass it."""

    def changeform_view(self, request: HttpRequest, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as error:
            # The form's rehearsal passed, so another write got in between. Nothing was saved:
            # Django's changeform_view runs in a transaction that the error rolled back.
            for each in error.errors:
                self.message_user(request, each.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def changelist_view(self, request: HttpRequest, extra_context=None):
        if self.import_kind and self.is_company_admin(request):
            # Company admins are who may add import jobs (``ImportJobAdmin``).
            upload_url = reverse("admin:integrations_importjob_add")
            extra_context = {**(extra_context or {}), "import_url": f"{upload_url}?kind={self.import_kind}"}
        return super().changelist_view(request, extra_context)

    def delete_model(self, request: HttpRequest, obj) -> None:
        raise NotImplementedError(f"{type(self).__name__} must delete through a service")

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for obj in queryset:
            self.delete_model(request, obj)


class PlatformModelAdmin(admin.ModelAdmin):
    """The admin of a global model that platform operators manage (companies), nobody else."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_platform_operator(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return is_platform_operator(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_platform_operator(request)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return is_platform_operator(request)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> models.QuerySet:
        queryset = super().get_queryset(request)
        return queryset if is_platform_operator(request) else queryset.none()
