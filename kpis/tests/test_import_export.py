"""Import and export of KPI definitions and units in the admin (PRODUCT I3, I4, K1–K5, O2).

As a company admin: the import is a background job (the lists' "Import" button opens its upload;
the worker runs here in the process): a check ("check only", nothing written), the recording of a
checked file, or a direct import; the export is import-export's. Every row goes through the
services, a file is all-or-nothing, and another company's rows can be neither matched, changed,
linked nor exported. Row numbers are the spreadsheet's: the header is row 1.
"""

import csv
import io
from types import SimpleNamespace

import openpyxl
import pytest
from django.contrib.admin.models import LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase
from django.urls import NoReverseMatch, reverse

from integrations.models import ImportJob, ImportStatus
from kpi_platform.celery import app
from kpis.imports import kpis_import
from kpis.models import Change, Kpi, KpiStatus, Unit
from kpis.resources import KpiResource, UnitResource
from kpis.tests.factories import make_kpi, make_unit
from orgs import services as org_services
from orgs.models import Role, User
from orgs.tenancy import company_context
from orgs.tests.admin_pages import reload, text

UPLOAD = "/admin/integrations/importjob/add/"
JOBS = "/admin/integrations/importjob/"
KPI_EXPORT = "/admin/kpis/kpi/export/"
UNIT_EXPORT = "/admin/kpis/unit/export/"
CSV_FORMAT, XLSX_FORMAT = "0", "1"  # the order of the mixins' export formats

KPI_HEADERS = [
    "Integration_Name",  # header names are case-insensitive
    "NAME_EN",
    "name_ru",
    "description_en",
    "description_ru",
    "unit",
    "kind",
    "status",
    "in_rating",
    "rating_units",
    "rating_points",
    "level",
    "department",
    "team",
    "owner",
    "direction",
    "category",
    "perspective",
]


# --- Fixtures and helpers --------------------------------------------------------------------------


@pytest.fixture
def acme(company, admin_member, make_member):
    """Acme (en, ru): Sales with the team Hunters, Alice, and the unit hours/часы."""
    with company_context(company.id):
        sales = org_services.department_create(name="Sales")
        hunters = org_services.team_create(name="Hunters", department=sales)
        hours = make_unit(name={"en": "hours", "ru": "часы"})
    alice = make_member(company, email="alice@acme.example", team=hunters)
    return SimpleNamespace(
        company=company, admin=admin_member, sales=sales, hunters=hunters, hours=hours, alice=alice
    )


@pytest.fixture
def globex(other_company, other_admin_member, make_member):
    """Globex (en), the other company, with names that must never be matched from Acme's files."""
    with company_context(other_company.id):
        department = org_services.department_create(name="Globex Dept")
        team = org_services.team_create(name="Globex Team", department=department)
        widgets = make_unit(name={"en": "widgets"})
        kpi = make_kpi(name={"en": "Globex Secret"}, integration_name="globex_secret", unit=widgets)
    zed = make_member(other_company, email="zed@globex.example", team=team)
    return SimpleNamespace(
        company=other_company,
        admin=other_admin_member,
        department=department,
        team=team,
        widgets=widgets,
        kpi=kpi,
        zed=zed,
    )


@pytest.fixture
def acme_admin(client, acme):
    assert acme.admin.user.is_staff
    client.force_login(acme.admin.user)
    return client


@pytest.fixture(autouse=True)
def worker():
    """The import jobs run in the process (the worker's code, no broker); see ``posted``."""
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def posted(client, url: str, data: dict | None = None):
    """A POST whose import job, queued when its transaction commits, has run when it returns."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(url, data or {})


def csv_bytes(rows: list[list], headers: list[str] = KPI_HEADERS) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers)
    writer.writerows(rows)
    return out.getvalue().encode()


def xlsx_bytes(rows: list[list], headers: list[str] = KPI_HEADERS) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def job_of(client, response) -> ImportJob:
    """The job whose page a response of the imports admin redirects to."""
    assert response.status_code == 302, response.content[:500]
    job_id = int(response["Location"].removeprefix(JOBS).split("/")[0])
    company_id = User.objects.get(pk=client.session["_auth_user_id"]).company_id
    with company_context(company_id):
        return ImportJob.objects.get(pk=job_id)


def upload(client, content: bytes, *, kind="kpis", name="kpis.csv", dry_run: bool) -> ImportJob:
    """The upload of the lists' "Import" button; the job has run when this returns."""
    data = {"kind": kind, "file": SimpleUploadedFile(name, content)}
    if dry_run:
        data["dry_run"] = "on"
    return job_of(client, posted(client, f"{UPLOAD}?kind={kind}", data))


def check(client, content: bytes, **kwargs) -> ImportJob:
    """A check ("check only"): every row run through the services, nothing written."""
    job = upload(client, content, dry_run=True, **kwargs)
    assert (job.dry_run, job.is_finished) == (True, True)
    return job


def record(client, checked: ImportJob) -> ImportJob:
    """Record the file of a successful check, from the check's page."""
    return job_of(client, posted(client, f"{JOBS}{checked.pk}/record/"))


def import_file(client, content: bytes, **kwargs) -> ImportJob:
    """Import a file at once (no check), which must succeed."""
    job = upload(client, content, dry_run=False, **kwargs)
    assert (job.status, job.errors) == (ImportStatus.SUCCEEDED, [])
    return job


def row_errors(job: ImportJob) -> dict[int, dict[str, list[str]]]:
    """{row number: {column: [messages]}} of a job's errors."""
    errors: dict[int, dict[str, list[str]]] = {}
    for error in job.errors:
        errors.setdefault(error["row"], {}).setdefault(error["column"], []).append(error["message"])
    return errors


def kpis_of(company) -> list[Kpi]:
    with company_context(company.id):
        return list(Kpi.objects.select_related("unit", "department", "team", "owner__user").order_by("id"))


def export(client, url=KPI_EXPORT, file_format=CSV_FORMAT) -> bytes:
    """The export page's form, every column ticked, as a browser would post it."""
    form = client.get(url).context["form"]
    columns = {
        name: "on" for name, field in form.fields.items() if getattr(field, "is_selectable_field", False)
    }
    response = client.post(url, {"format": file_format, "resource": "0", **columns})
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Disposition"].startswith("attachment")
    return response.content


def csv_rows(content: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


VALID_ROWS = [
    # integration, en, ru, description en, ru, unit, kind, status, in_rating, N, M, level, department,
    # team, owner, direction, category, perspective
    [
        "calls",
        "Calls",
        "Звонки",
        "Outgoing calls",
        "Исходящие звонки",
        "ЧАСЫ",  # a unit's name in any language, in any case
        "secondary",
        "active",
        "yes",
        "2.5",
        "3",
        "team",
        "sales",
        "Hunters",
        "Alice@Acme.example",
        "higher_is_better",
        "operational",
        "customer",
    ],
    ["deals", "Deals", "Сделки", "", "", "", "primary", "hidden", "", "", "", "", "", "", "", "", "", ""],
]


# --- Import: a valid file ---------------------------------------------------------------------------


def test_a_valid_csv_creates_kpis_in_two_languages_after_the_check(acme_admin, acme):
    # given a csv with two KPIs, named in English and Russian
    content = csv_bytes(VALID_ROWS)
    # when the admin uploads it to check it
    checked = check(acme_admin, content)
    # then the check found two KPIs to write and offers to record them, and nothing is written yet
    assert (checked.status, checked.created, checked.error_count) == (ImportStatus.SUCCEEDED, 2, 0)
    assert "Record this file" in text(acme_admin.get(f"{JOBS}{checked.pk}/change/"))
    assert kpis_of(acme.company) == []
    # when they record it
    done = record(acme_admin, checked)
    # then both KPIs exist, with every column applied, written by the services
    assert (done.status, done.created) == (ImportStatus.SUCCEEDED, 2)
    calls, deals = kpis_of(acme.company)
    assert (calls.integration_name, calls.name_en, calls.name_ru) == ("calls", "Calls", "Звонки")
    assert (calls.description_en, calls.description_ru) == ("Outgoing calls", "Исходящие звонки")
    assert calls.unit_id == acme.hours.id
    assert (calls.kind, calls.status, calls.in_rating) == ("secondary", KpiStatus.ACTIVE, True)
    assert (str(calls.rating_units), calls.rating_points) == ("2.50", 3)
    assert (calls.level, calls.department_id, calls.team_id) == ("team", acme.sales.id, acme.hunters.id)
    assert calls.owner_id == acme.alice.pk
    assert (calls.category, calls.perspective) == ("operational", "customer")
    assert (deals.name_ru, deals.unit.is_default, deals.status) == ("Сделки", True, KpiStatus.HIDDEN)
    # and the history names the admin (K10); the global admin log gets nothing
    with company_context(acme.company.id):
        created = Change.objects.filter(action="created", object_type="kpi")
        assert {change.actor_id for change in created} == {acme.admin.pk}
    assert not LogEntry.objects.exists()


def test_an_xlsx_file_imports_too(acme_admin, acme):
    # given the same rows as an xlsx workbook, with real numbers and booleans in it
    rows = [list(VALID_ROWS[0]), list(VALID_ROWS[1])]
    rows[0][8], rows[0][9], rows[0][10] = True, 2.5, 3
    # when the admin imports it
    import_file(acme_admin, xlsx_bytes(rows), name="kpis.xlsx")
    # then the KPIs are created exactly as from the csv
    calls, deals = kpis_of(acme.company)
    assert (calls.name_ru, calls.in_rating, str(calls.rating_units), calls.rating_points) == (
        "Звонки",
        True,
        "2.50",
        3,
    )
    assert deals.name_en == "Deals"


def test_importing_the_same_file_again_updates_instead_of_duplicating(acme_admin, acme):
    # given a file imported once
    import_file(acme_admin, csv_bytes(VALID_ROWS))
    first = kpis_of(acme.company)
    # when the same KPIs come again, one renamed and the integration name in another case
    rows = [list(VALID_ROWS[0]), list(VALID_ROWS[1])]
    rows[0][0], rows[0][2] = "CALLS", "Звонки клиентам"
    checked = check(acme_admin, csv_bytes(rows))
    # then the check finds one KPI to change and one unchanged (a duplicate)
    assert (checked.created, checked.duplicates, checked.error_count) == (1, 1, 0)
    record(acme_admin, checked)
    # and the same KPIs are changed: no duplicates
    second = kpis_of(acme.company)
    assert [kpi.id for kpi in second] == [kpi.id for kpi in first]
    assert second[0].name_ru == "Звонки клиентам"


def test_a_row_with_an_id_changes_that_kpi_and_may_rename_its_integration_name(acme_admin, acme):
    # given a KPI
    with company_context(acme.company.id):
        kpi = make_kpi(name={"en": "Visits"}, integration_name="visits")
    # when a file names it by id with a new integration name
    import_file(
        acme_admin, csv_bytes([[kpi.id, "site_visits", "Site visits"]], ["id", "integration_name", "name_en"])
    )
    # then that KPI changed
    kpi = reload(kpi, acme.company)
    assert (kpi.integration_name, kpi.name_en) == ("site_visits", "Site visits")


# --- Import: invalid rows ---------------------------------------------------------------------------


def test_a_file_with_invalid_rows_writes_nothing_and_shows_each_error_with_its_row(acme_admin, acme):
    # given an existing KPI and a file whose first row is fine and the others are not
    with company_context(acme.company.id):
        make_kpi(name={"en": "Revenue", "ru": "Выручка"}, integration_name="revenue")
        changes_before = Change.objects.count()
    blank = [""] * (len(KPI_HEADERS) - 3)
    content = csv_bytes(
        [
            ["calls", "Calls", "Звонки", *blank],
            # K2: the Russian name is another KPI's English name, in another case
            ["income", "Income", "REVENUE", *blank],
            # K4: three decimals
            ["leads", "Leads", "Лиды", "", "", "", "", "", "true", "1.125", "", *([""] * 7)],
            # K5: active without the Russian name
            ["visits", "Visits", "", "", "", "", "", "active", *([""] * 10)],
        ]
    )
    # when the admin imports it
    job = upload(acme_admin, content, dry_run=False)
    # then each error is listed with its row and column, on the job's page too
    assert job.status == ImportStatus.FAILED
    errors = row_errors(job)
    assert set(errors) == {3, 4, 5}
    assert list(errors[3]) == ["name_ru"]
    assert "REVENUE" in errors[3]["name_ru"][0]
    assert list(errors[4]) == ["rating_units"]
    assert list(errors[5]) == ["name_ru"]
    page = text(acme_admin.get(f"{JOBS}{job.pk}/change/"))
    assert "Nothing was recorded" in page
    for message in [errors[3]["name_ru"][0], errors[4]["rating_units"][0], errors[5]["name_ru"][0]]:
        assert message in page
    # and nothing was written, not even the valid first row
    assert [kpi.integration_name for kpi in kpis_of(acme.company)] == ["revenue"]
    with company_context(acme.company.id):
        assert Change.objects.count() == changes_before


def test_the_dry_run_shows_the_same_errors_as_the_real_import(acme, in_company):
    # given a file with a valid row and an invalid one
    header = ["integration_name", "name_en", "rating_points"]
    rows = [(2, ["calls", "Calls", "1"]), (3, ["deals", "Calls", "0"])]
    # when it is imported as a dry run and for real
    dry = kpis_import(header=header, rows=rows, actor=acme.admin, dry_run=True)
    real = kpis_import(header=header, rows=rows, actor=acme.admin)
    # then both report the same errors, and the real import rolled everything back
    assert dry.errors == real.errors
    assert {(row, column) for row, column, _message in real.errors} == {(3, "name_en"), (3, "rating_points")}
    assert not Kpi.objects.exists()


def test_a_file_whose_first_row_names_no_column_is_refused(acme, in_company):
    # given a file whose first line is blank, its KPIs below it
    rows = [(2, ["calls", "Calls", "1"])]
    # when it is imported
    result = kpis_import(header=[], rows=rows, actor=acme.admin)
    # then it is refused as a whole, saying why, instead of counting its rows as blank
    row, column, message = result.errors[0]
    assert (row, column) == (2, None)  # a file's problems stand on its first row
    assert message.startswith("The first row names no column. The columns are: id, integration_name,")
    assert (result.changed, result.unchanged) == (0, 0)
    assert not Kpi.objects.exists()


def test_a_file_that_became_invalid_before_it_was_recorded_writes_nothing(acme_admin, acme):
    # given a check without errors
    checked = check(acme_admin, csv_bytes(VALID_ROWS))
    assert checked.status == ImportStatus.SUCCEEDED
    # and, before the admin records the file, someone else takes the name "Deals"
    with company_context(acme.company.id):
        make_kpi(name={"en": "Deals"}, integration_name="other_deals")
    # when the admin records it
    done = record(acme_admin, checked)
    # then nothing is imported and the error is shown instead of a success message
    assert done.status == ImportStatus.FAILED
    assert row_errors(done) == {3: {"name_en": [row_errors(done)[3]["name_en"][0]]}}
    assert "The file was recorded." not in text(acme_admin.get(f"{JOBS}{done.pk}/change/"))
    assert [kpi.integration_name for kpi in kpis_of(acme.company)] == ["other_deals"]


@pytest.mark.django_db(transaction=True)
def test_all_or_nothing_holds_with_real_transactions(acme_admin, acme):
    """Not inside a test's wrapping transaction: the job's own transaction commits."""
    # given a check without errors, and a name taken before the file is recorded
    checked = check(acme_admin, csv_bytes(VALID_ROWS))
    with company_context(acme.company.id):
        make_kpi(name={"en": "Deals"}, integration_name="other_deals")
    # when the admin records it
    assert record(acme_admin, checked).status == ImportStatus.FAILED
    # then the committed job wrote nothing of the file, not even its valid first row
    assert [kpi.integration_name for kpi in kpis_of(acme.company)] == ["other_deals"]
    # and a valid file is committed whole
    rows = [list(VALID_ROWS[0]), list(VALID_ROWS[1])]
    rows[1][0], rows[1][1], rows[1][2] = "won_deals", "Won deals", "Выигранные сделки"
    import_file(acme_admin, csv_bytes(rows))
    assert [kpi.integration_name for kpi in kpis_of(acme.company)] == ["other_deals", "calls", "won_deals"]


def test_the_same_kpi_twice_in_one_file_is_an_error(acme_admin, acme):
    # given a file naming one KPI in two rows
    content = csv_bytes([["calls", "Calls"], ["Calls", "Calls again"]], ["integration_name", "name_en"])
    # when it is uploaded
    job = check(acme_admin, content)
    # then the second row is refused
    assert list(row_errors(job)) == [3]
    assert "Row 1" in row_errors(job)[3]["integration_name"][0]


def test_an_unknown_column_refuses_the_file(acme_admin, acme):
    # given a file with a misspelt column
    content = csv_bytes([["calls", "Calls"]], ["integration_name", "nmae_en"])
    # when it is uploaded
    job = check(acme_admin, content)
    # then the column is named as the problem and the file cannot be recorded
    assert "nmae_en" in row_errors(job)[2]
    assert job.status == ImportStatus.FAILED


def test_blank_lines_and_empty_unnamed_columns_are_ignored(acme_admin, acme):
    # given a file with an empty column without a header and a blank line between two rows
    content = csv_bytes(
        [["calls", "Calls", ""], ["", "", ""], ["deals", "Deals", ""]], ["integration_name", "name_en", ""]
    )
    # when it is imported
    import_file(acme_admin, content)
    # then both KPIs exist
    assert [kpi.integration_name for kpi in kpis_of(acme.company)] == ["calls", "deals"]


def test_a_language_the_company_has_not_enabled_is_an_error_for_that_row(client, globex):
    # given Globex (English only) and a file with a Russian name
    client.force_login(globex.admin.user)
    content = csv_bytes(
        [["calls", "Calls", ""], ["deals", "Deals", "Сделки"]], ["integration_name", "name_en", "name_ru"]
    )
    # when its admin uploads it
    job = check(client, content)
    # then the row with the Russian name is refused (an empty cell in that column is fine)
    assert row_errors(job) == {3: {"name_ru": [row_errors(job)[3]["name_ru"][0]]}}


# --- Isolation (O2) -----------------------------------------------------------------------------------


def test_another_companys_ids_units_departments_and_people_are_not_found(acme_admin, acme, globex):
    # given a file of Acme that names Globex's KPI id, unit, department, team, person and, in a
    # description, links to Globex's KPI
    headers = ["id", "integration_name", "name_en", "unit", "department", "team", "owner", "description_en"]
    content = csv_bytes(
        [
            [globex.kpi.id, "globex_secret", "Taken over", "", "", "", "", ""],
            ["", "calls", "Calls", "widgets", "", "", "", ""],
            ["", "deals", "Deals", "", "Globex Dept", "Globex Team", "", ""],
            ["", "leads", "Leads", "", "", "", "zed@globex.example", ""],
            ["", "visits", "Visits", "", "", "", "", f"[see](internal:kpis/{globex.kpi.id})"],
        ],
        headers,
    )
    # when Acme's admin imports it
    job = upload(acme_admin, content, dry_run=False)
    # then each is refused as not found / unknown / an invalid link
    errors = row_errors(job)
    assert list(errors[2]) == ["id"]
    assert list(errors[3]) == ["unit"]
    assert set(errors[4]) == {"department", "team"}
    assert list(errors[5]) == ["owner"]
    assert list(errors[6]) == ["description_en"]
    # and Globex's KPI is unchanged, and Acme has nothing new
    kpi = reload(globex.kpi, globex.company)
    assert (kpi.name_en, kpi.unit_id) == ("Globex Secret", globex.widgets.id)
    assert kpis_of(acme.company) == []


def test_an_integration_name_of_another_company_creates_this_companys_own_kpi(acme_admin, acme, globex):
    # given Globex's integration name in Acme's file
    import_file(acme_admin, csv_bytes([["globex_secret", "Our own"]], ["integration_name", "name_en"]))
    # then Acme got its own KPI and Globex's is untouched
    assert [kpi.name_en for kpi in kpis_of(acme.company)] == ["Our own"]
    assert reload(globex.kpi, globex.company).name_en == "Globex Secret"


# --- Export (I4) -----------------------------------------------------------------------------------


def test_export_contains_only_this_companys_kpis_with_formulas_escaped(acme_admin, acme, globex):
    # given Acme's KPIs, one named like a formula
    with company_context(acme.company.id):
        make_kpi(name={"en": "=cmd()", "ru": "@SUM(A1)"}, integration_name="evil", unit=acme.hours)
        make_kpi(name={"en": "Calls", "ru": "Звонки"}, integration_name="calls", owner=acme.alice)
    # when the admin exports to csv
    rows = csv_rows(export(acme_admin))
    # then only Acme's rows are there, every column of the import
    assert sorted(row["integration_name"] for row in rows) == ["calls", "evil"]
    assert list(rows[0]) == list(KpiResource().get_export_headers())
    evil = next(row for row in rows if row["integration_name"] == "evil")
    calls = next(row for row in rows if row["integration_name"] == "calls")
    # and the formula cells start with an apostrophe
    assert (evil["name_en"], evil["name_ru"], evil["unit"]) == ("'=cmd()", "'@SUM(A1)", "hours")
    assert calls["owner"] == "alice@acme.example"
    assert "globex" not in str(rows).lower()


@pytest.mark.parametrize("separator", [",", ";", "\t"])
def test_csv_export_exposes_no_formula_whatever_the_spreadsheets_separator(acme_admin, acme, separator):
    """issue 17: a name such as ``x;=cmd|' /C calc'!A0`` was written unquoted, and a spreadsheet
    whose list separator is ``;`` ran its second part. Every text cell is quoted (OWASP)."""
    # given a KPI whose names hide a formula after each separator a spreadsheet may use
    with company_context(acme.company.id):
        make_kpi(name={"en": "x;=cmd|' /C calc'!A0", "ru": "x\t@SUM(A1)"}, integration_name="evil")
    # when the admin exports to csv
    content = export(acme_admin).decode("utf-8-sig")
    # then split on the separator, no cell starts a formula
    for row in csv.reader(io.StringIO(content), delimiter=separator):
        assert not any(cell.startswith(("=", "+", "@", "\t", "\r")) for cell in row), row
    # and read with the file's own separator, the names are whole, escaped as an import undoes it
    evil = next(row for row in csv_rows(content.encode()) if row["integration_name"] == "evil")
    assert (evil["name_en"], evil["name_ru"]) == ("x;'=cmd|' /C calc'!A0", "x\t'@SUM(A1)")


def test_xlsx_export_holds_no_formula(acme_admin, acme):
    # given a KPI named like a formula
    with company_context(acme.company.id):
        make_kpi(name={"en": '=HYPERLINK("http://x")', "ru": "+1"}, integration_name="evil")
    # when the admin exports to xlsx
    workbook = openpyxl.load_workbook(io.BytesIO(export(acme_admin, file_format=XLSX_FORMAT)))
    sheet = workbook.active
    headers = [cell.value for cell in sheet[1]]
    cells = dict(zip(headers, sheet[2], strict=True))
    # then the cells are text, not formulas
    assert cells["name_en"].data_type == "s"
    assert cells["name_en"].value == '\'=HYPERLINK("http://x")'
    assert cells["name_ru"].value == "'+1"
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


@pytest.mark.parametrize("file_format", [CSV_FORMAT, XLSX_FORMAT])
def test_an_exported_file_imports_again_changing_nothing(acme_admin, acme, file_format):
    # given KPIs of every kind of value, one with a formula-like name
    import_file(acme_admin, csv_bytes(VALID_ROWS))
    with company_context(acme.company.id):
        make_kpi(name={"en": "-5 days", "ru": "=минус"}, integration_name="evil", description={"en": "@home"})
        changes = Change.objects.count()
    before = [(kpi.pk, kpi.updated_at) for kpi in kpis_of(acme.company)]
    # when the export is imported again
    content = export(acme_admin, file_format=file_format)
    name = "kpis.xlsx" if file_format == XLSX_FORMAT else "kpis.csv"
    checked = check(acme_admin, content, name=name)
    # then every row is unchanged, and the import succeeds writing nothing
    assert (checked.created, checked.duplicates, checked.error_count) == (0, 3, 0)
    record(acme_admin, checked)
    assert [(kpi.pk, kpi.updated_at) for kpi in kpis_of(acme.company)] == before
    with company_context(acme.company.id):
        assert Change.objects.count() == changes
        assert Kpi.objects.get(integration_name="evil").name_ru == "=минус"


def test_another_companys_admin_exports_only_their_own(client, acme, globex):
    with company_context(acme.company.id):
        make_kpi(name={"en": "Acme Secret"}, integration_name="acme_secret")
    client.force_login(globex.admin.user)
    rows = csv_rows(export(client))
    assert [row["integration_name"] for row in rows] == ["globex_secret"]
    assert [row["name_ru"] for row in rows] == [""]  # Globex has no Russian


# --- Units (K3) --------------------------------------------------------------------------------------


def test_units_import_create_update_and_refuse_with_the_service_rules(acme_admin, acme, globex):
    # given a units file: a new unit, a rename by id, a name taken in another language, another
    # company's id
    content = csv_bytes(
        [
            ["", "calls", "звонки", "0"],
            [acme.hours.id, "hours", "часы работы", ""],
        ],
        ["ID", "Name_En", "Name_Ru", "Decimals"],
    )
    # when it is imported
    import_file(acme_admin, content, kind="units", name="units.csv")
    # then the unit is created with its decimals, and the other renamed keeping its own
    with company_context(acme.company.id):
        calls = Unit.objects.get(name_en="calls")
        assert (calls.name_ru, calls.decimals) == ("звонки", 0)
        hours = Unit.objects.get(pk=acme.hours.pk)
        assert (hours.name_ru, hours.decimals) == ("часы работы", 2)
    # when a file breaks the rules
    bad = csv_bytes(
        [
            ["", "deals", "HOURS", ""],
            [globex.widgets.id, "widgets", "", ""],
            ["", "a" * 19, "", ""],
            ["", "litres", "литры", "3"],
        ],
        ["id", "name_en", "name_ru", "decimals"],
    )
    job = upload(acme_admin, bad, kind="units", name="units.csv", dry_run=False)
    # then every row is refused with the service's reasons, and nothing is written
    errors = row_errors(job)
    assert list(errors) == [2, 3, 4, 5]
    assert list(errors[2]) == ["name_ru"]
    assert list(errors[3]) == ["id"]
    assert list(errors[4]) == ["name_en"]
    assert list(errors[5]) == ["decimals"]
    assert reload(globex.widgets, globex.company).name_en == "widgets"
    with company_context(acme.company.id):
        assert not Unit.objects.filter(name_en="deals").exists()


def test_units_export_is_this_companys_and_imports_again_unchanged(acme_admin, acme, globex):
    # when Acme's admin exports the units
    content = export(acme_admin, url=UNIT_EXPORT)
    rows = csv_rows(content)
    # then Acme's units only, "points" among them, each with its decimals
    assert sorted((row["name_en"], row["decimals"]) for row in rows) == [("hours", "2"), ("points", "2")]
    # and importing the file again changes nothing
    checked = check(acme_admin, content, kind="units", name="units.csv")
    assert (checked.status, checked.created, checked.duplicates) == (ImportStatus.SUCCEEDED, 0, 2)


def test_the_default_units_export_of_an_english_only_company_imports_again(client, globex):
    # "points" carries every platform language's name, but Globex has English only
    client.force_login(globex.admin.user)
    content = export(client, url=UNIT_EXPORT)
    checked = check(client, content, kind="units", name="units.csv")
    assert not row_errors(checked)
    assert checked.duplicates == 2


# --- Who may import and export ----------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.MANAGER, Role.LEAD, Role.MEMBER])
@pytest.mark.parametrize("url", [f"{UPLOAD}?kind=kpis", KPI_EXPORT, f"{UPLOAD}?kind=units", UNIT_EXPORT])
def test_people_who_are_not_company_admins_get_the_login_page(client, company, make_member, role, url):
    client.force_login(make_member(company, role).user)
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith("/admin/login/")


@pytest.mark.parametrize("url", [f"{UPLOAD}?kind=kpis", KPI_EXPORT, f"{UPLOAD}?kind=units", UNIT_EXPORT])
def test_a_staff_account_without_the_admin_role_may_not_import_or_export(client, company, make_member, url):
    # given a manager marked staff by mistake
    manager = make_member(company, Role.MANAGER)
    User.objects.filter(pk=manager.user.pk).update(is_staff=True)
    client.force_login(manager.user)
    # when they open or post to an import or export page
    # then they are refused
    assert client.get(url).status_code == 403
    content = csv_bytes([["calls", "Calls"]], ["integration_name", "name_en"])
    posted = {"format": CSV_FORMAT, "kind": "kpis", "file": SimpleUploadedFile("kpis.csv", content)}
    assert client.post(url, posted).status_code == 403
    with company_context(company.id):
        assert not Kpi.objects.exists()
        assert not ImportJob.objects.exists()


@pytest.mark.parametrize(("page", "kind"), [("/admin/kpis/kpi/", "kpis"), ("/admin/kpis/unit/", "units")])
def test_the_lists_import_button_opens_the_background_import_and_export_stays(acme_admin, page, kind):
    # when the admin opens the list
    html = text(acme_admin.get(page))
    # then "Import" opens the upload of an import job for that kind of file, preselected
    assert f'href="{UPLOAD}?kind={kind}"' in html
    upload_page = acme_admin.get(f"{UPLOAD}?kind={kind}")
    assert upload_page.context["form"]["kind"].value() == kind
    # and links back to the list
    assert f'href="{page}"' in text(upload_page)
    # and the export is still there
    assert f"{page}export/" in html


@pytest.mark.parametrize("model", ["kpi", "unit"])
def test_import_exports_in_request_import_is_gone(acme_admin, acme, model):
    """A file is never imported inside the request (I3): import-export's import views are not routed."""
    # then there is no URL for them
    for name in ("import", "process_import"):
        with pytest.raises(NoReverseMatch):
            reverse(f"admin:kpis_{model}_{name}")
    # and a file posted where they were records nothing
    content = csv_bytes([["calls", "Calls"]], ["integration_name", "name_en"])
    upload_file = SimpleUploadedFile("kpis.csv", content)
    response = acme_admin.post(
        f"/admin/kpis/{model}/import/", {"import_file": upload_file, "format": CSV_FORMAT, "resource": "0"}
    )
    assert response.status_code in (302, 404)
    assert kpis_of(acme.company) == []


def test_resources_are_importable_with_no_request(in_company):
    # the admin's export form instantiates the resources with no arguments
    assert "integration_name" in KpiResource().get_export_headers()
    assert UnitResource().get_export_headers() == ["id", "name_en", "name_ru", "decimals"]
