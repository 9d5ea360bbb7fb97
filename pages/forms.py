"""The forms of the pages. They check the shape of what a person typed; the services check the
rules (and say what is wrong in the same words as the API)."""

import zoneinfo

from django import forms
from django.conf import settings
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from kpi_platform.errors import DomainError
from orgs.models import Company, ReportFrequency, TrackingFrequency
from orgs.services import COMPANY_SETTINGS


def _time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


def _field_label(name: str) -> str:
    return capfirst(Company._meta.get_field(name).verbose_name)


class CompanySettingsForm(forms.Form):
    """The company settings page (O7): what ``orgs.services.company_update`` takes, nothing else.

    The time zone and the hour are plain values behind their lists, so a value that is not in the
    list gets the service's message, as it does through the API.
    """

    name = forms.CharField(label=_("Name"), max_length=200)
    time_zone = forms.CharField(
        label=_("Time zone"),
        widget=forms.Select(choices=_time_zone_choices),
        help_text=_("Every day, period and time people see is counted in it."),
    )
    languages = forms.MultipleChoiceField(
        label=_("Enabled content languages"),
        choices=settings.LANGUAGES,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one language.")},
        help_text=_("KPIs and units are written in each of them."),
    )
    default_language = forms.ChoiceField(
        label=_("Default language"),
        choices=settings.LANGUAGES,
        help_text=_("What people read when a text has no translation in their language."),
    )
    primary_frequency = forms.ChoiceField(
        label=_("Tracking frequency of primary KPIs"), choices=TrackingFrequency.choices
    )
    secondary_frequency = forms.ChoiceField(
        label=_("Tracking frequency of secondary KPIs"), choices=TrackingFrequency.choices
    )
    report_frequency = forms.ChoiceField(label=_("KPI report e-mail"), choices=ReportFrequency.choices)
    report_hour = forms.IntegerField(
        label=_("Hour of the KPI report"),
        widget=forms.Select(choices=[(hour, f"{hour:02d}:00") for hour in range(24)]),
        error_messages={"invalid": _("The report's hour is a whole number from 0 to 23.")},
        help_text=_("In the company's time zone."),
    )
    units_define_kpis = forms.BooleanField(required=False)
    self_reporting = forms.BooleanField(required=False)
    confirm_removal = forms.BooleanField(
        label=_("Yes, stop offering these languages"),
        required=False,
        help_text=_("Their translations are kept and come back if you enable the language again."),
    )

    # The page's fieldsets: (legend, fields side by side, check boxes below them).
    GROUPS = [
        (_("Company"), ["name", "time_zone"], []),
        (_("Languages"), ["languages", "default_language"], []),
        (
            _("Tracking"),
            ["primary_frequency", "secondary_frequency"],
            ["units_define_kpis", "self_reporting"],
        ),
        (_("KPI report"), ["report_frequency", "report_hour"], []),
    ]

    def __init__(self, *args, company: Company, **kwargs):
        kwargs.setdefault("initial", {name: getattr(company, name) for name in COMPANY_SETTINGS})
        super().__init__(*args, **kwargs)
        self.company = company
        for name in ("units_define_kpis", "self_reporting"):
            field = Company._meta.get_field(name)
            self.fields[name].label = _field_label(name)
            self.fields[name].help_text = field.help_text

    def groups(self) -> list[tuple[str, list, list]]:
        return [
            (legend, [self[name] for name in fields], [self[name] for name in checks])
            for legend, fields, checks in self.GROUPS
        ]

    def changes(self) -> dict:
        """The settings that differ from the company's: what the service is given. The same
        languages in another order are no change."""
        if set(self.cleaned_data["languages"]) == set(self.company.languages):
            self.cleaned_data["languages"] = list(self.company.languages)
        return {
            name: self.cleaned_data[name]
            for name in COMPANY_SETTINGS
            if self.cleaned_data[name] != getattr(self.company, name)
        }

    def removed_languages(self) -> list[str]:
        return [code for code in self.company.languages if code not in self.cleaned_data["languages"]]

    def added_languages(self) -> list[str]:
        return [code for code in self.cleaned_data["languages"] if code not in self.company.languages]

    def show_domain_error(self, error: DomainError) -> None:
        for each in error.errors:
            self.add_error(each.field if each.field in self.fields else None, each.message)
