"""The KPI report (PRODUCT D5): each department manager and team lead gets, by e-mail, their
units' key metrics against targets for the period that has just ended, in their own language, as
often as their company chose (daily, weekly or monthly, at an hour of its time zone). The same
report of any unit and period downloads from its dashboard, as the page or as an xlsx workbook
with the same figures as numbers (``report_xlsx``), which the e-mail attaches too.

Sent exactly once per period: ``reports_send_due`` locks the company's row, sends only when the
period before today has not been reported yet (``Company.report_last_start``) and the chosen hour
has come, and records it in the same transaction; a failure to send rolls the record back, so the
next hourly run tries again.
"""

import datetime
import io
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import Workbook
from openpyxl.styles import Font

from kpi_platform.cells import xlsx_text
from kpis.numbers import shown_decimals
from orgs.i18n import content_languages
from orgs.models import Company, DepartmentManager, Member, ReportFrequency, TeamLead
from orgs.tenancy import current_company_id
from ratings import dashboards
from ratings.dashboards import Holder, KpiFigure
from ratings.windows import CUSTOM, Window, window_of


@dataclass
class ReportSection:
    holder: Holder
    window: Window
    primary: list[KpiFigure]
    secondary: list[KpiFigure]
    secondary_window: Window | None = None  # the secondary KPIs' own period, where it is another


def section(
    holder: Holder, window: Window, languages: list[str], *, secondary_window: Window | None = None
) -> ReportSection:
    """A unit's figures in ``window``; its secondary KPIs' in ``secondary_window`` if given (O1:
    the report downloaded from a dashboard, on each kind's tracking frequency)."""
    windows = (window, secondary_window or window)
    figures = dashboards.kind_figures(holder, dashboards.holder_kpis(holder), windows, languages)
    own = secondary_window if secondary_window not in (None, window) else None
    return ReportSection(holder, window, *dashboards.split_by_kind(figures), secondary_window=own)


def report_window(frequency: str, today: datetime.date) -> Window:
    """The period that ended before ``today``: yesterday, last week or last month."""
    if frequency == ReportFrequency.DAILY:
        yesterday = today - datetime.timedelta(days=1)
        return Window(CUSTOM, yesterday, yesterday, today)
    kind = "week" if frequency == ReportFrequency.WEEKLY else "month"
    return window_of(kind, today, today).shifted(1)


def report_html(*, company: Company, sections: list[ReportSection]) -> str:
    return render_to_string("ratings/email/report.html", {"company": company, "sections": sections})


def report_text(*, company: Company, sections: list[ReportSection]) -> str:
    return render_to_string("ratings/email/report.txt", {"company": company, "sections": sections})


# The traffic light in words (K11: by the KPI's own bands), as the dashboard's dots are titled.
LIGHT_WORDS = {
    dashboards.GREEN: gettext_lazy("On track"),
    dashboards.AMBER: gettext_lazy("Slightly behind"),
    dashboards.RED: gettext_lazy("Behind"),
}
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Numbers as the page shows them (``kpis.numbers``: the KPI's decimals, two where fewer would hide
# cents), and percents.
PERCENT = "0%"


def _number_format(value: Decimal | None, decimals: int) -> str:
    places = shown_decimals(value, decimals) if value is not None else decimals
    return "#,##0" + ("." + "0" * places if places else "")


def report_columns() -> list[str]:
    return [
        _("KPI"),
        _("Kind"),
        _("Unit"),
        _("Total"),
        _("Target"),
        _("Expected by today"),
        _("Progress"),
        _("Pace"),
        _("Status"),
    ]


def _xlsx_figure_row(figure: KpiFigure) -> list[tuple[object, str | None]]:
    """One KPI's cells with their number formats: the figures stay numbers, shown at the KPI's
    precision; a lower-is-better target reads "≤ 5" as on the page; percents as fractions."""
    decimals = figure.kpi.decimals
    target_format = _number_format(figure.target, decimals)
    if figure.lower_is_better:
        target_format = f'"≤ "{target_format}'
    kind = _("Primary") if figure.kpi.kind == "primary" else _("Secondary")
    return [
        (xlsx_text(figure.name), None),
        (kind, None),
        (xlsx_text(figure.unit), None),
        (figure.total, _number_format(figure.total, decimals)),
        (figure.target, target_format),
        (figure.expected, _number_format(figure.expected, decimals)),
        (_fraction(figure.progress), PERCENT),
        (_fraction(figure.pace), PERCENT),
        (str(LIGHT_WORDS.get(figure.light, "")), None),
    ]


def _fraction(percent: Decimal | None) -> Decimal | None:
    return None if percent is None else percent / 100


def report_xlsx(*, company: Company, sections: list[ReportSection]) -> bytes:
    """The report as a workbook in the current language: a header with the company, each period
    and the company's time zone, then per unit a row of column names and a row per KPI."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = _("KPI report")[:31]  # a sheet's name has at most 31 characters
    bold = Font(bold=True)
    sheet.append([xlsx_text(f"{_('KPI report')} · {company.name}")])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append([_("Time zone"), company.time_zone])
    for each in sections:
        sheet.append([])
        sheet.append([xlsx_text(each.holder.name)])
        sheet.cell(sheet.max_row, 1).font = bold
        sheet.append(
            [_("Period"), xlsx_text(each.window.label), str(each.window.start), str(each.window.end)]
        )
        sheet.append(report_columns())
        for cell in sheet[sheet.max_row]:
            cell.font = bold
        for figure in each.primary + each.secondary:
            cells = _xlsx_figure_row(figure)
            sheet.append([value for value, _format in cells])
            for cell, (_value, number_format) in zip(sheet[sheet.max_row], cells, strict=True):
                if number_format:
                    cell.number_format = number_format
    sheet.column_dimensions["A"].width = 36
    for column in "BCDEFGHI":
        sheet.column_dimensions[column].width = 16
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def report_recipients() -> dict[Member, list[Holder]]:
    """Every department manager and team lead with the units they head (2 queries)."""
    heads: dict[int, tuple[Member, list[Holder]]] = {}
    managers = DepartmentManager.objects.select_related("member__user", "department").order_by(
        "department__name", "department_id"
    )
    leads = TeamLead.objects.select_related("member__user", "team").order_by("team__name", "team_id")
    for link in managers:
        heads.setdefault(link.member_id, (link.member, []))[1].append(
            dashboards.department_holder(link.department)
        )
    for link in leads:
        heads.setdefault(link.member_id, (link.member, []))[1].append(dashboards.team_holder(link.team))
    return {
        member: holders for member, holders in heads.values() if member.user.is_active and member.user.email
    }


def report_message(
    *, company: Company, member: Member, holders: list[Holder], window: Window, connection=None
):
    """One recipient's e-mail, in their language (D6): HTML and text parts."""
    language = member.user.language or company.default_language
    with translation.override(language):
        languages = content_languages(member.user, company)
        sections = [section(holder, window, languages) for holder in holders]
        subject = _("KPI report: %(company)s, %(period)s") % {"company": company.name, "period": window.label}
        message = EmailMultiAlternatives(
            subject=subject,
            body=report_text(company=company, sections=sections),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[member.user.email],
            connection=connection,
        )
        message.attach_alternative(report_html(company=company, sections=sections), "text/html")
        message.attach(
            f"kpi-report-{window.start}-{window.end}.xlsx",
            report_xlsx(company=company, sections=sections),
            XLSX_CONTENT_TYPE,
        )
    return message


@transaction.atomic
def reports_send_due(*, now: datetime.datetime | None = None) -> int:
    """Send the current company's report if it is due (see the module docstring); the number of
    e-mails sent."""
    company = Company.objects.select_for_update().get(id=current_company_id())
    if company.report_frequency == ReportFrequency.OFF:
        return 0
    local = (now or timezone.now()).astimezone(company.zone)
    window = report_window(company.report_frequency, local.date())
    if local.hour < company.report_hour or company.report_last_start == window.start:
        return 0
    recipients = report_recipients()
    with get_connection() as connection:
        messages = [
            report_message(
                company=company, member=member, holders=holders, window=window, connection=connection
            )
            for member, holders in recipients.items()
        ]
        connection.send_messages(messages)
    company.report_last_start = window.start
    company.save(update_fields=["report_last_start", "updated_at"])
    return len(messages)
