"""The KPI report (PRODUCT D5): each department manager and team lead gets, by e-mail, their
units' key metrics against targets for the period that has just ended, in their own language, as
often as their company chose (daily, weekly or monthly, at an hour of its time zone). The same
report of any unit and period downloads from its dashboard.

Sent exactly once per period: ``reports_send_due`` locks the company's row, sends only when the
period before today has not been reported yet (``Company.report_last_start``) and the chosen hour
has come, and records it in the same transaction; a failure to send rolls the record back, so the
next hourly run tries again.
"""

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

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
