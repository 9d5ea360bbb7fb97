"""The company settings page (PRODUCT O7, API.md "Pages": ``/organization/settings/``): a company
admin changes their own company's settings through ``orgs.services.company_update``, the service
the API uses, and reads their history (K10). Nobody else of the company opens it (403)."""

from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from kpi_platform.errors import DomainError
from kpis.admin import history_entry
from kpis.selectors import LanguageContent, change_list, content_missing_language, content_using_language
from orgs import access
from orgs.i18n import content_languages, localized
from orgs.selectors import company_get
from orgs.services import company_settings_check, company_update
from pages.forms import CompanySettingsForm
from pages.views.base import page, viewer_of

HISTORY_SHOWN = 20


def _language_name(code: str) -> str:
    return str(dict(settings.LANGUAGES).get(code, code))


@page
def company_settings(request: HttpRequest) -> HttpResponse:
    viewer = viewer_of(request)
    if not access.is_company_admin(viewer):
        raise PermissionDenied
    company = company_get()
    form = CompanySettingsForm(request.POST or None, company=company)
    in_use = []
    if form.is_bound and form.is_valid():
        changes = form.changes()
        try:
            company_settings_check(company=company, **changes)
            in_use = [
                content for content in content_using_language(languages=form.removed_languages()) if content
            ]
            if not in_use or form.cleaned_data["confirm_removal"]:
                added = form.added_languages()
                company_update(company=company, actor=viewer, **changes)
                _say_saved(request, added)
                return redirect("organization-settings")
        except DomainError as error:
            form.show_domain_error(error)
    languages = content_languages(request.user, company)
    context = {
        "company": company,
        "form": form,
        "in_use": [_listed(content, languages) for content in in_use],
        "missing": [
            _listed(content, languages)
            for content in content_missing_language(languages=company.languages)
            if content
        ],
        "history": [
            history_entry(change, "company")
            for change in change_list(object_type="company", object_id=company.id)[:HISTORY_SHOWN]
        ],
    }
    return render(request, "orgs/settings.html", context)


@dataclass
class Listed:
    """A language's KPIs and units as the page lists them: a name and where to edit it."""

    language: str
    kpis: list[tuple[str, str]]
    units: list[tuple[str, str]]


def _listed(content: LanguageContent, languages: list[str]) -> Listed:
    return Listed(
        _language_name(content.language),
        [
            (
                localized(kpi, "name", languages) or f"#{kpi.id}",
                reverse("admin:kpis_kpi_change", args=[kpi.id]),
            )
            for kpi in content.kpis
        ],
        [
            (
                localized(unit, "name", languages) or f"#{unit.id}",
                reverse("admin:kpis_unit_change", args=[unit.id]),
            )
            for unit in content.units
        ],
    )


def _say_saved(request: HttpRequest, added: list[str]) -> None:
    messages.success(request, _("The company settings are saved."))
    for content in content_missing_language(languages=added):
        if content:
            messages.warning(
                request,
                _(
                    "%(language)s is enabled. %(kpis)s and %(units)s have no translation in it yet: "
                    "they stay visible, and are listed below with links to complete them."
                )
                % {
                    "language": _language_name(content.language),
                    "kpis": ngettext("%(count)d Active KPI", "%(count)d Active KPIs", len(content.kpis))
                    % {"count": len(content.kpis)},
                    "units": ngettext(
                        "%(count)d unit of measurement", "%(count)d units of measurement", len(content.units)
                    )
                    % {"count": len(content.units)},
                },
            )
