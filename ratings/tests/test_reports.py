"""The KPI report (PRODUCT D5): sent by the hourly beat to each department manager and team lead
with their units' figures against targets, once per period, in their language; and the same
report downloaded from a dashboard."""

import datetime
import io
import re
import zoneinfo
from decimal import ROUND_HALF_UP, Decimal

import openpyxl
import pytest
from django.conf import settings
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kpis.services import kpi_update, target_create, unit_create
from orgs.models import Role
from orgs.services import company_update, department_create, department_set_managers
from orgs.tenancy import company_context
from ratings import reports, tasks
from ratings.reports import reports_send_due
from ratings.tests.pages_org import build_org, record

MOSCOW = zoneinfo.ZoneInfo("Europe/Moscow")
OCTOBER = datetime.date(2026, 10, 1)


def at(day: int, hour: int, month: int = 11) -> datetime.datetime:
    return datetime.datetime(2026, month, day, hour, 5, tzinfo=MOSCOW)


@pytest.fixture
def org(company, make_member):
    """Acme sends monthly reports at 8:00; October: Alpha 30 calls of 40, Beta 5; Sales 35 of 100."""
    org = build_org(company, make_member)
    with company_context(company.id):
        company_update(company=company, report_frequency="monthly", report_hour=8)
        target_create(
            kpi=org.calls,
            period="month",
            start=OCTOBER,
            value="100",
            scope="department",
            department=org.sales,
        )
        target_create(kpi=org.calls, period="month", start=OCTOBER, value="40", scope="team", team=org.alpha)
    record(
        company,
        (org.ann, org.calls, 10, "2026-10-05"),
        (org.bob, org.calls, 20, "2026-10-31"),
        (org.cid, org.calls, 5, "2026-10-20"),
        (org.ann, org.calls, 99, "2026-11-01"),  # November: not in October's report
        (org.eve, org.calls, 7, "2026-10-10"),  # Support: nobody's report here heads it
    )
    return org


def send(company, now: datetime.datetime) -> int:
    with company_context(company.id):
        return reports_send_due(now=now)


def message_to(email: str):
    return next(message for message in mail.outbox if message.to == [email])


def html_of(message) -> str:
    ((html, mime_type),) = message.alternatives
    assert mime_type == "text/html"
    return html


def test_each_head_gets_their_units_figures_for_last_month_with_html_and_text(org):
    # when the beat runs on 1 November at 8:05 in Moscow
    assert send(org.company, at(1, 8)) == 2
    # then the manager gets Sales (35 of 100: 35 %), and the lead Alpha (30 of 40: 75 %)
    manager = message_to("manager@acme.example")
    assert manager.subject == "KPI report: Acme, October 2026"
    assert "Sales · October 2026" in manager.body
    assert "- Calls made (points): 35.00 / 100.00, 35%" in manager.body
    assert 'class="total">35.00<' in html_of(manager)
    lead = message_to("lead@acme.example")
    assert "- Calls made (points): 30.00 / 40.00, 75%" in lead.body
    # and each sees only their own units
    assert "Sales" not in lead.body
    assert "Alpha" not in manager.body
    assert "Support" not in manager.body + lead.body


def test_a_period_is_reported_once_and_not_before_the_hour(org):
    assert send(org.company, at(1, 7)) == 0  # before 8:00
    assert send(org.company, at(1, 8)) == 2
    assert send(org.company, at(1, 9)) == 0  # October already sent
    assert send(org.company, at(15, 12)) == 0
    assert len(mail.outbox) == 2
    record(org.company, (org.ann, org.calls, 1, "2026-11-20"))
    assert send(org.company, at(1, 8, month=12)) == 2  # November's, once December begins


def test_the_report_goes_out_at_the_hour_and_in_the_zone_the_admin_sets_on_the_settings_page(org, client):
    # given Acme's admin moves the report from 8:00 to 10:00 on the company settings page
    client.force_login(org.admin.user)
    form = {
        "name": "Acme",
        "time_zone": "Europe/Moscow",
        "languages": ["en", "ru"],
        "default_language": "en",
        "primary_frequency": "monthly",
        "secondary_frequency": "weekly",
        "report_frequency": "monthly",
        "report_hour": "10",
    }
    assert client.post("/organization/settings/", form).status_code == 302
    # then at 8:05 and 9:05 on 1 November nothing goes out; at 10:05 it does, once
    assert [send(org.company, at(1, hour)) for hour in (8, 9, 10, 11)] == [0, 0, 2, 0]
    # and when the admin moves the company to Tokyo (6 hours ahead) with the report at 10:00, the
    # next one goes out at 10:00 in Tokyo: 4:05 in Moscow, not 10:05
    mail.outbox.clear()
    record(org.company, (org.ann, org.calls, 1, "2026-11-20"))
    assert client.post("/organization/settings/", {**form, "time_zone": "Asia/Tokyo"}).status_code == 302
    assert [send(org.company, at(1, hour, month=12)) for hour in (3, 4)] == [0, 2]


def test_weekly_and_daily_reports_cover_last_week_and_yesterday(org):
    with company_context(org.company.id):
        company_update(company=org.company, report_frequency="weekly")
    assert send(org.company, at(2, 9)) == 2  # Monday 2 November: the week of 26 Oct – 1 Nov
    assert "- Calls made (points): 119" in message_to("lead@acme.example").body  # 20 + 99
    mail.outbox.clear()
    with company_context(org.company.id):
        company_update(company=org.company, report_frequency="daily")
    assert send(org.company, at(2, 9)) == 2  # yesterday, 1 November
    assert "- Calls made (points): 99" in message_to("lead@acme.example").body


def test_reports_can_be_turned_off(org):
    with company_context(org.company.id):
        company_update(company=org.company, report_frequency="off")
    assert send(org.company, at(1, 8)) == 0
    assert mail.outbox == []


def test_a_russian_speaker_gets_the_report_in_russian(org, make_member):
    russian = make_member(org.company, Role.MANAGER, email="ivan@acme.example", language="ru")
    with company_context(org.company.id):
        department_set_managers(department=org.sales, managers=[org.manager, russian])
    send(org.company, at(1, 8))
    message = message_to("ivan@acme.example")
    assert message.subject.startswith("Отчёт по KPI: Acme")
    assert "Звонки" in message.body
    assert "Calls made" not in message.body


def test_another_companys_heads_and_figures_stay_out(org, other_company, make_member):
    boss = make_member(other_company, Role.MANAGER, email="boss@globex.example")
    with company_context(other_company.id):
        department_set_managers(department=department_create(name="Globex sales"), managers=[boss])
        company_update(company=other_company, report_frequency="monthly", report_hour=0)
    assert send(org.company, at(1, 8)) == 2
    assert all("globex" not in message.to[0] for message in mail.outbox)
    mail.outbox.clear()
    assert send(other_company, at(1, 8)) == 1
    (theirs,) = mail.outbox
    assert theirs.to == ["boss@globex.example"]
    assert "Calls made" not in theirs.body
    assert "Alpha" not in theirs.body


def test_the_hourly_dispatcher_sends_one_task_per_reporting_company(org, other_company, monkeypatch):
    from orgs.tenancy import current_company_id

    sent = []
    monkeypatch.setattr(tasks.kpi_reports_send, "delay", lambda: sent.append(current_company_id()))
    with company_context(other_company.id):
        company_update(company=other_company, report_frequency="off")
    tasks.kpi_reports_dispatch.apply()
    assert sent == [org.company.id]


def test_the_report_opens_as_a_page_and_downloads_from_the_dashboard(client, org):
    """D5, issue 18 (9): the report opens as a page to read and print; the download is beside it."""
    client.force_login(org.manager.user)
    url, period = f"/dashboards/departments/{org.sales.id}/report/", {"period": "month", "date": "2026-10-01"}
    response = client.get(url, period)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('inline; filename="kpi-report-department-')
    assert 'class="total">35.00<' in response.content.decode()
    kept = client.get(url, {**period, "download": "1"})
    assert kept["Content-Disposition"].startswith('attachment; filename="kpi-report-department-')
    assert kept.content == response.content
    dashboard = client.get(f"/dashboards/departments/{org.sales.id}/", period).content.decode()
    assert 'id="report-open" target="_blank"' in dashboard
    assert "report/?period=month&amp;date=2026-10-01&amp;download=1" in dashboard
    assert client.get(f"/dashboards/departments/{org.support.id}/report/").status_code == 404


def test_a_target_with_cents_prints_them_beside_a_figure_counted_in_whole_numbers(org):
    """Issue 18, item 5: 4 deals against a target of 3.91 reads "4 / 3.91, 102%" in the e-mail,
    its text and the report page, never "4 / 4" (which does not make 102 %)."""
    # given deals counted one by one (no decimals shown) and October's target of 3.91 for Sales
    with company_context(org.company.id):
        deals = unit_create(name={"en": "deals", "ru": "сделки"}, decimals=0)
        kpi_update(kpi=org.deals, unit=deals)
        sales = {"scope": "department", "department": org.sales}
        target_create(kpi=org.deals, period="month", start=OCTOBER, value="3.91", **sales)
        # and for Alpha a whole quarter of 12, whose October share is 12 × 31 / 92 = 4.04
        quarter = datetime.date(2026, 10, 1)
        target_create(
            kpi=org.deals, period="quarter", start=quarter, value="12", scope="team", team=org.alpha
        )
    record(org.company, *((org.ann, org.deals, 1, f"2026-10-0{day}") for day in range(1, 5)))
    # when the beat sends October's report
    send(org.company, at(1, 8))
    # then the manager reads 4 of 3.91, 102 %, in the text and in the HTML
    manager = message_to("manager@acme.example")
    assert "- Deals won (deals): 4 / 3.91, 102%" in manager.body
    html = html_of(manager)
    row = html[html.index('data-kpi="deals"') :]
    row = row[: row.index("</tr>")]
    assert 'class="total">4<' in row
    assert 'class="target">3.91<' in row
    assert "102%" in row
    # and the lead reads Alpha's pro-rated share with its cents, not "4 / 4, 99%"
    assert "- Deals won (deals): 4 / 4.04, 99%" in message_to("lead@acme.example").body


# --- The report as a workbook (D5, issue 19 item 5) ---------------------------------------------------


def html_rows(html: str) -> dict[str, dict[str, Decimal | None]]:
    """Each KPI row of the report's HTML: its name and its figures as numbers (None for "—")."""
    rows = {}
    for row in re.findall(r'<tr data-kpi="[^"]*">(.*?)</tr>', html, re.S):
        name = re.search(r"<td[^>]*>(.*?) <span", row, re.S).group(1)
        cells = dict(re.findall(r'class="(total|target|progress)">(.*?)</td>', row, re.S))
        rows[name] = {column: html_number(text) for column, text in cells.items()}
    return rows


def html_number(text: str) -> Decimal | None:
    text = text.replace("≤", "").replace("%", "").replace(",", "").strip()
    return None if text == "—" else Decimal(text)


def xlsx_sheet(content: bytes):
    workbook = openpyxl.load_workbook(io.BytesIO(content))
    assert workbook.sheetnames == ["KPI report"]
    return workbook["KPI report"]


def xlsx_rows(sheet) -> dict[str, dict[str, object]]:
    """Each KPI row of the workbook, by the column names of its unit's header row."""
    rows, columns = {}, None
    for row in sheet.iter_rows():
        values = [cell.value for cell in row]
        if values[:1] == ["KPI"]:
            columns = values
        elif columns and values[0] and len(values) == len(columns) and values[1] in ("Primary", "Secondary"):
            rows[values[0]] = dict(zip(columns, row, strict=True))
    return rows


def as_shown(cell) -> Decimal | None:
    """A number cell as its number format shows it: its decimals ("#,##0.0": one), or a whole
    percent."""
    if cell.value is None:
        return None
    value = Decimal(str(cell.value))
    if cell.number_format.endswith("%"):
        return (value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    decimals = cell.number_format.split(".")[1] if "." in cell.number_format else ""
    return value.quantize(Decimal(1).scaleb(-len(decimals)), rounding=ROUND_HALF_UP)


def assert_same_figures(html: str, content: bytes) -> dict[str, dict[str, object]]:
    shown, cells = html_rows(html), xlsx_rows(xlsx_sheet(content))
    assert shown
    assert set(shown) == set(cells)
    for name, figures in shown.items():
        row = cells[name]
        assert {
            "total": as_shown(row["Total"]),
            "target": as_shown(row["Target"]),
            "progress": as_shown(row["Progress"]),
        } == figures, name
        for column in ("Total", "Target", "Expected by today"):
            if row[column].value is not None:  # numbers, not text, at the KPI's precision
                assert isinstance(row[column].value, int | float), (name, column)
                assert row[column].number_format.endswith(("#,##0", "#,##0.0", "#,##0.00")), (name, column)
    return cells


@pytest.fixture
def october(org):
    """On top of ``org``: Deals won with a company target of 8 and Alpha's of 3.91 (cents), a lower-is-better
    Response time for Alpha (≤ 20 minutes), in October."""
    with company_context(org.company.id):
        target_create(kpi=org.deals, period="month", start=OCTOBER, value="8")
        target_create(
            kpi=org.deals, period="month", start=OCTOBER, value="3.91", scope="team", team=org.alpha
        )
        target_create(
            kpi=org.response_time, period="month", start=OCTOBER, value="20", scope="team", team=org.alpha
        )
    record(
        org.company,
        (org.ann, org.deals, 2, "2026-10-07"),
        (org.cid, org.deals, 2, "2026-10-08"),
        (org.ann, org.response_time, "12.5", "2026-10-09"),
        (org.bob, org.response_time, "7.25", "2026-10-12"),
    )
    return org


@pytest.mark.parametrize(
    ("who", "unit", "expected"),
    [
        # brute force from the raw actions: Sales 10 + 20 + 5 calls of 100; Alpha 30 of 40
        ("admin", "company", {"Calls made": 42, "Deals won": 4}),
        ("manager", "sales", {"Calls made": 35, "Deals won": 4}),
        ("lead", "alpha", {"Calls made": 30, "Deals won": 2, "Response time": Decimal("19.75")}),
    ],
)
def test_the_xlsx_report_has_the_html_reports_figures_as_numbers(client, october, who, unit, expected):
    # given each role's report of October
    org = october
    url = {
        "company": "/dashboards/company/report/",
        "sales": f"/dashboards/departments/{org.sales.id}/report/",
        "alpha": f"/dashboards/teams/{org.alpha.id}/report/",
    }[unit]
    client.force_login(getattr(org, who).user)
    period = {"period": "month", "date": "2026-10-01"}
    # when it is read as a page and downloaded as xlsx
    with CaptureQueriesContext(connection) as page_queries:
        html = client.get(url, period).content.decode()
    with CaptureQueriesContext(connection) as workbook_queries:
        response = client.get(url, {**period, "download": "xlsx"})
    assert len(workbook_queries) == len(page_queries)  # the page's reads, none per row
    # then the workbook is an attachment with every KPI row's figures as the page shows them
    assert response.status_code == 200
    assert response["Content-Type"] == reports.XLSX_CONTENT_TYPE
    assert response["Content-Disposition"].startswith('attachment; filename="kpi-report-')
    assert response["Content-Disposition"].endswith('-2026-10-01-2026-10-31.xlsx"')
    cells = assert_same_figures(html, response.content)
    assert {name: as_shown(row["Total"]) for name, row in cells.items() if name in expected} == expected
    # and the header names the company, the period and the company's time zone
    sheet = xlsx_sheet(response.content)
    assert sheet["A1"].value == "KPI report · Acme"
    assert [sheet["A2"].value, sheet["B2"].value] == ["Time zone", "Europe/Moscow"]
    header = [[cell.value for cell in row] for row in sheet.iter_rows(max_col=2)]
    assert ["Period", "October 2026"] in header


def test_the_xlsx_report_shows_targets_expected_pace_and_status_and_escapes_formulas(client, october):
    org = october
    with company_context(org.company.id):
        org.calls.name_en = "=HYPERLINK(1)"
        org.calls.save(update_fields=["name_en"])
    client.force_login(org.lead.user)
    url = f"/dashboards/teams/{org.alpha.id}/report/"
    response = client.get(url, {"period": "month", "date": "2026-10-01", "download": "xlsx"})
    cells = xlsx_rows(xlsx_sheet(response.content))
    calls = cells["'=HYPERLINK(1)"]  # escaped, as every export's text
    # 30 calls of 40 in a finished month: expected is the whole target, pace the progress, 75 %
    assert [calls[column].value for column in ("Total", "Target", "Expected by today")] == [30, 40, 40]
    assert [calls["Progress"].value, calls["Pace"].value] == [0.75, 0.75]
    assert calls["Progress"].number_format == "0%"
    assert calls["Status"].value == "Behind"
    assert calls["Kind"].value == "Primary"
    assert cells["Response time"]["Kind"].value == "Secondary"
    deals = cells["Deals won"]
    assert deals["Target"].value == 3.91  # Alpha's target, not rounded to 4
    assert deals["Target"].number_format == "#,##0.00"
    response_time = cells["Response time"]
    assert response_time["Target"].number_format == '"≤ "#,##0.00'
    assert response_time["Total"].value == 19.75


def test_a_russian_reader_gets_the_workbook_in_russian(client, october):
    client.force_login(october.lead.user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
    url = f"/dashboards/teams/{october.alpha.id}/report/"
    response = client.get(url, {"period": "month", "date": "2026-10-01", "download": "xlsx"})
    workbook = openpyxl.load_workbook(io.BytesIO(response.content))
    assert workbook.sheetnames == ["Отчёт по KPI"]
    assert workbook.active["A2"].value == "Часовой пояс"
    assert "Звонки" in [row[0] for row in workbook.active.iter_rows(values_only=True)]


def test_the_xlsx_report_of_a_unit_out_of_reach_or_of_another_company_is_not_found(
    client, october, other_company
):
    org = october
    with company_context(other_company.id):
        their_department = department_create(name="Globex sales")
    xlsx = {"download": "xlsx"}
    client.force_login(org.admin.user)
    assert client.get(f"/dashboards/departments/{their_department.id}/report/", xlsx).status_code == 404
    client.force_login(org.manager.user)
    assert client.get(f"/dashboards/departments/{org.support.id}/report/", xlsx).status_code == 404
    client.force_login(org.lead.user)
    assert client.get(f"/dashboards/teams/{org.beta.id}/report/", xlsx).status_code == 404
    assert client.get("/dashboards/company/report/", xlsx).status_code == 403


def test_the_e_mailed_report_attaches_the_same_figures_as_xlsx(october):
    assert send(october.company, at(1, 8)) == 2
    message = message_to("manager@acme.example")
    ((filename, content, mime_type),) = message.attachments
    assert filename == "kpi-report-2026-10-01-2026-10-31.xlsx"
    assert mime_type == reports.XLSX_CONTENT_TYPE
    assert_same_figures(html_of(message), content)
