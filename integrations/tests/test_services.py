"""Imports run by the worker (PRODUCT I3, R1–R4, O2): formats, all-or-nothing, exactly once."""

import datetime
import io
import zipfile
from decimal import Decimal
from pathlib import Path
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache

from integrations import services
from integrations.models import ImportJob, ImportKind, ImportStatus
from integrations.progress import progress_key
from integrations.selectors import import_job_progress
from integrations.tests.conftest import YESTERDAY
from integrations.tests.files import ACTION_HEADER, csv_bytes, upload, xlsx_bytes
from kpi_platform.errors import DomainError
from kpis.models import Kpi
from orgs.tenancy import company_context
from ratings.models import DailyTotal, KpiAction

DATA = Path(__file__).resolve().parents[2] / "tests" / "data"
MOSCOW = ZoneInfo("Europe/Moscow")


def run(
    company, content: bytes, name: str, *, kind=ImportKind.ACTIONS, dry_run=False, actor=None
) -> ImportJob:
    """Upload ``content`` and let the worker's code run it, as the task would."""
    with company_context(company.id):
        with mock.patch("integrations.services._enqueue_on_commit"):
            job = services.import_job_create(
                file=upload(content, name), kind=kind, dry_run=dry_run, actor=actor
            )
        services.import_job_run(job_id=job.id)
        job.refresh_from_db()
        return job


def recorded(company) -> list[tuple]:
    with company_context(company.id):
        return sorted(
            KpiAction.objects.values_list("member__user__email", "kpi__integration_name", "value", "source")
        )


def good_rows() -> list[list]:
    return [
        ACTION_HEADER,
        ["ann@acme.example", "calls", "3", f"{YESTERDAY}T10:00:00+03:00", "a-1", "first"],
        ["e-ann", "CALLS", 2.5, f"{YESTERDAY}T11:00:00", "", ""],  # a person's external id; KPI any case
        ["bob@acme.example", "calls", 4, YESTERDAY, None, None],
    ]


@pytest.mark.parametrize(("make", "name"), [(csv_bytes, "actions.csv"), (xlsx_bytes, "actions.xlsx")])
def test_a_valid_file_is_recorded_completely_through_the_recording_service(acme, make, name):
    # when
    job = run(acme.company, make(good_rows()), name, actor=acme.admin)

    # then every row is an imported action, and the job says so
    assert (job.status, job.total_rows, job.processed_rows, job.created, job.duplicates) == (
        ImportStatus.SUCCEEDED,
        3,
        3,
        3,
        0,
    )
    assert job.errors == []
    assert job.attempts == 1
    assert job.finished_at >= job.started_at
    assert recorded(acme.company) == [
        ("ann@acme.example", "calls", Decimal("2.50"), "import"),
        ("ann@acme.example", "calls", Decimal("3.00"), "import"),
        ("bob@acme.example", "calls", Decimal("4.00"), "import"),
    ]
    with company_context(acme.company.id):
        assert DailyTotal.objects.get(member_id=acme.ann.user_id).points == Decimal("5.50")
        assert set(KpiAction.objects.values_list("recorded_by_id", flat=True)) == {acme.admin.user_id}


@pytest.mark.parametrize(("make", "name"), [(csv_bytes, "actions.csv"), (xlsx_bytes, "actions.xlsx")])
def test_one_bad_row_records_nothing_and_every_error_names_row_column_and_message(acme, make, name):
    # given a file whose rows 3 and 5 are wrong (rows count from the header, row 1)
    rows = [*good_rows(), ["nobody@acme.example", "calls", "-1", YESTERDAY, "", ""]]
    rows[2][1] = "no-such-kpi"

    # when
    job = run(acme.company, make(rows), name)

    # then
    assert job.status == ImportStatus.FAILED
    assert recorded(acme.company) == []
    assert {(error["row"], error["column"]) for error in job.errors} == {
        (3, "kpi"),
        (5, "user"),
        (5, "value"),
    }
    assert all(error["message"] for error in job.errors)
    assert job.error_count == 3
    assert job.created == 0


def test_the_same_file_imported_twice_counts_nothing_twice(acme):
    # given a file imported once, its rows without external id among them (R4)
    content = xlsx_bytes(good_rows())
    first = run(acme.company, content, "actions.xlsx")

    # when the same file comes again
    second = run(acme.company, content, "again.xlsx")

    # then
    assert (first.created, first.duplicates) == (3, 0)
    assert (second.status, second.created, second.duplicates) == (ImportStatus.SUCCEEDED, 0, 3)
    assert len(recorded(acme.company)) == 3


def test_a_row_repeating_a_recorded_external_id_with_other_content_is_a_row_error(acme):
    run(acme.company, csv_bytes(good_rows()), "first.csv")
    changed = good_rows()
    changed[1][2] = "30"  # a-1 again, with another value

    job = run(acme.company, csv_bytes(changed), "second.csv")

    assert job.status == ImportStatus.FAILED
    assert [(e["row"], e["column"]) for e in job.errors] == [(2, "external_id")]
    assert len(recorded(acme.company)) == 3


def test_an_error_in_a_later_chunk_rolls_back_the_chunks_already_recorded(acme, monkeypatch):
    # given chunks of two rows, and a bad row in the third chunk
    monkeypatch.setattr(services, "IMPORT_CHUNK", 2)
    rows = [ACTION_HEADER] + [["bob@acme.example", "calls", n, YESTERDAY, f"x{n}", ""] for n in range(1, 6)]
    rows[5][2] = "many"

    job = run(acme.company, csv_bytes(rows), "chunks.csv")

    assert job.status == ImportStatus.FAILED
    assert job.errors == [{"row": 6, "column": "value", "message": job.errors[0]["message"]}]
    assert (job.total_rows, job.created) == (5, 0)  # the first chunks counted, then rolled back
    assert recorded(acme.company) == []
    with company_context(acme.company.id):
        assert not DailyTotal.objects.exists()


def _aggregates(company) -> tuple:
    from ratings.models import CompanyDailyTotal, RatingBoard, RatingTotal

    with company_context(company.id):
        return (
            sorted(
                DailyTotal.objects.values_list("member_id", "kpi_id", "day", "value", "points", "actions")
            ),
            sorted(CompanyDailyTotal.objects.values_list("kpi_id", "day", "value", "points", "actions")),
            sorted(RatingTotal.objects.values_list("period", "start", "member_id", "points")),
            sorted(RatingBoard.objects.filter(people__gt=0).values_list("period", "start", "people")),
        )


@pytest.mark.parametrize("flush_keys", [100_000, 3], ids=["once-at-the-end", "several-times"])
def test_a_many_chunk_files_aggregates_equal_a_rebuild_from_its_actions(acme, monkeypatch, flush_keys):
    """R6: the recorder sums the aggregates of every chunk and applies them once (or, holding too
    many, several times); either way they equal what ``aggregates_rebuild`` computes."""
    from kpis.tests.factories import make_active_kpi
    from ratings.services import actions_record, aggregates_rebuild

    # given a second KPI (half a point per unit), an action already recorded on a day the file
    # adds to, and a file of 40 rows over people, KPIs and days, read 7 rows at a time
    monkeypatch.setattr(services, "IMPORT_CHUNK", 7)
    monkeypatch.setattr("ratings.services.recording.AGGREGATE_FLUSH_KEYS", flush_keys)
    with company_context(acme.company.id):
        make_active_kpi(
            acme.company, integration_name="deals", in_rating=True, rating_units="2", rating_points=1
        )
        actions_record(
            items=[
                {
                    "kpi": "calls",
                    "user": "bob@acme.example",
                    "value": "2",
                    "occurred_at": f"{YESTERDAY}T09:00:00",
                }
            ]
        )
    today = datetime.date.today()
    rows = [ACTION_HEADER] + [
        [
            ("ann@acme.example", "bob@acme.example", "admin@acme.example")[n % 3],
            ("calls", "deals")[n % 2],
            f"{n % 5 + 0.25:.2f}",
            f"{today - datetime.timedelta(days=1 + n % 40)}T1{n % 10}:00:00",
            "",
            "",
        ]
        for n in range(40)
    ]

    # when it is imported
    job = run(acme.company, csv_bytes(rows), "many.csv")

    # then every row counts, and the aggregates are exactly those rebuilt from the actions
    assert (job.status, job.created) == (ImportStatus.SUCCEEDED, 40), job.errors
    kept = _aggregates(acme.company)
    with company_context(acme.company.id):
        assert aggregates_rebuild().corrected == 0
    assert _aggregates(acme.company) == kept
    assert sum(amounts[5] for amounts in kept[0]) == 41  # 40 rows and the earlier action


def test_semicolons_a_bom_russian_headers_and_decimal_commas_are_read(acme):
    # given a csv as Russian Excel saves it
    rows = [
        ["Пользователь", "Показатель", "Значение", "Дата", "Внешний ID", "Комментарий"],
        ["ann@acme.example", "calls", "2,5", f"{YESTERDAY} 09:30", "r-1", "звонки"],
    ]

    job = run(acme.company, csv_bytes(rows, delimiter=";", bom=True), "отчёт.csv")

    assert job.status == ImportStatus.SUCCEEDED, job.errors
    with company_context(acme.company.id):
        action = KpiAction.objects.get()
    assert (action.value, action.external_id, action.comment) == (Decimal("2.50"), "r-1", "звонки")


def test_header_names_are_case_insensitive_and_errors_use_the_files_spelling(acme):
    rows = [["USER", "Kpi", "Value", "Occurred_At"], ["ann@acme.example", "calls", "x", YESTERDAY]]

    job = run(acme.company, csv_bytes(rows), "caps.csv")

    assert [(e["row"], e["column"]) for e in job.errors] == [(2, "Value")]


def test_excel_date_cells_and_naive_times_are_the_companys_local_time(acme):
    # given an Excel date-time cell and a date-only cell, neither with a time zone
    day = datetime.date.today() - datetime.timedelta(days=2)
    rows = [
        ACTION_HEADER,
        ["ann@acme.example", "calls", 1, datetime.datetime.combine(day, datetime.time(23, 30)), "d-1", ""],
        ["bob@acme.example", "calls", 1, day, "d-2", ""],
    ]

    job = run(acme.company, xlsx_bytes(rows), "dates.xlsx")

    assert job.status == ImportStatus.SUCCEEDED, job.errors
    with company_context(acme.company.id):
        actions = {a.external_id: a for a in KpiAction.objects.all()}
    # Moscow (UTC+3): 23:30 local is 20:30 UTC, still the same local day
    assert actions["d-1"].occurred_at == datetime.datetime.combine(day, datetime.time(23, 30), tzinfo=MOSCOW)
    assert actions["d-1"].day == day
    assert actions["d-2"].occurred_at == datetime.datetime.combine(day, datetime.time(), tzinfo=MOSCOW)


def test_a_missing_time_is_a_row_error_not_now(acme):
    rows = [ACTION_HEADER, ["ann@acme.example", "calls", 1, "", "", ""]]

    job = run(acme.company, csv_bytes(rows), "no-time.csv")

    assert [(e["row"], e["column"]) for e in job.errors] == [(2, "occurred_at")]


def test_a_missing_required_column_fails_the_file_at_the_header(acme):
    job = run(
        acme.company,
        csv_bytes([["user", "kpi", "occurred_at"], ["ann@acme.example", "calls", YESTERDAY]]),
        "a.csv",
    )

    assert job.status == ImportStatus.FAILED
    assert [(e["row"], e["column"]) for e in job.errors] == [(1, "value")]


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (b"", "empty.csv"),
        (b"\xef\xbb\xbf\r\n", "bom-only.csv"),
        (csv_bytes([ACTION_HEADER]), "header-only.csv"),
        (xlsx_bytes([ACTION_HEADER]), "header-only.xlsx"),
        (xlsx_bytes([]), "empty.xlsx"),
        (b"user,kpi\n\xff\xfe not utf-8\n", "latin.csv"),
        (b"not a zip at all", "fake.xlsx"),
        (xlsx_bytes(good_rows()), "really-xlsx.csv"),
    ],
)
def test_an_empty_or_unreadable_file_fails_with_a_clear_error(acme, content, name):
    job = run(acme.company, content, name)

    assert job.status == ImportStatus.FAILED
    assert len(job.errors) == 1
    assert job.errors[0]["row"] is None
    assert job.errors[0]["message"]
    assert recorded(acme.company) == []


def test_an_xlsx_that_unpacks_too_far_is_refused_before_reading(acme, settings):
    # given a valid workbook padded with a highly compressible part (a small zip bomb)
    output = io.BytesIO(xlsx_bytes(good_rows()))
    with zipfile.ZipFile(output, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/media/padding.bin", b"\0" * (8 * 1024 * 1024))
    settings.IMPORT_MAX_UNCOMPRESSED_BYTES = 4 * 1024 * 1024

    job = run(acme.company, output.getvalue(), "bomb.xlsx")

    assert job.status == ImportStatus.FAILED
    assert "unpacks" in job.errors[0]["message"]


def test_an_xml_entity_bomb_is_refused_not_expanded(acme):
    # given a sheet whose DTD defines a billion laughs and whose cell uses them
    laughs = "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(2, 10))
    content = io.BytesIO(xlsx_bytes([ACTION_HEADER, ["PLACEHOLDER", "calls", 1, YESTERDAY]]))
    output = io.BytesIO()
    with zipfile.ZipFile(content) as source, zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                dtd = f'<!DOCTYPE lolz [<!ENTITY lol1 "lol">{laughs}]>'.encode()
                data = dtd + data.replace(b"PLACEHOLDER", b"&lol9;")
            target.writestr(item, data)

    job = run(acme.company, output.getvalue(), "laughs.xlsx")

    assert job.status == ImportStatus.FAILED
    assert job.errors[0]["row"] is None
    assert "entity" in job.errors[0]["message"]
    assert recorded(acme.company) == []


def test_formula_cells_are_read_as_their_computed_value_never_as_text_to_run(acme):
    # given a workbook saved by LibreOffice (tests/data/actions-formula.xlsx): C2 is =1+2
    job = run(acme.company, (DATA / "actions-formula.xlsx").read_bytes(), "formula.xlsx")

    assert job.status == ImportStatus.SUCCEEDED, job.errors
    with company_context(acme.company.id):
        assert list(KpiAction.objects.values_list("value", flat=True)) == [Decimal("3.00")]


def test_a_file_saved_by_a_spreadsheet_program_imports(acme):
    # given tests/data/actions.xlsx, saved by LibreOffice, with a date cell and Russian headers
    job = run(acme.company, (DATA / "actions.xlsx").read_bytes(), "actions.xlsx")

    assert job.status == ImportStatus.SUCCEEDED, job.errors
    assert job.created == 2


@pytest.mark.parametrize(
    ("name", "size", "status"),
    [("actions.pdf", 10, 415), ("actions", 10, 415), ("big.csv", 2048, 413)],
)
def test_a_wrong_type_or_too_large_file_is_refused_at_the_upload(acme, settings, name, size, status):
    settings.IMPORT_MAX_BYTES = 1024
    with company_context(acme.company.id), pytest.raises(DomainError) as refused:
        services.import_job_create(file=upload(b"x" * size, name))
    assert refused.value.status_code == status
    with company_context(acme.company.id):
        assert not ImportJob.objects.exists()


def test_another_companys_people_and_kpis_are_row_errors(acme, globex):
    rows = [
        ACTION_HEADER,
        ["zed@globex.example", "calls", 1, YESTERDAY, "", ""],
        ["ann@acme.example", "sales", 1, YESTERDAY, "", ""],
    ]

    job = run(acme.company, csv_bytes(rows), "cross.csv")

    assert [(e["row"], e["column"]) for e in job.errors] == [(2, "user"), (3, "kpi")]
    assert recorded(acme.company) == []
    assert recorded(globex.company) == []


def test_a_check_only_reports_what_would_happen_and_records_nothing(acme):
    job = run(acme.company, csv_bytes(good_rows()), "check.csv", dry_run=True)

    assert (job.status, job.created, job.duplicates) == (ImportStatus.SUCCEEDED, 3, 0)
    assert recorded(acme.company) == []

    # and recording it afterwards records the same file
    with company_context(acme.company.id), mock.patch("integrations.services._enqueue_on_commit"):
        new = services.import_job_record(job=job, actor=acme.admin)
        services.import_job_run(job_id=new.id)
        new.refresh_from_db()
    assert (new.status, new.created, new.dry_run) == (ImportStatus.SUCCEEDED, 3, False)
    assert len(recorded(acme.company)) == 3


def test_a_run_again_after_a_crash_records_every_row_once(acme):
    # given a job whose worker died mid-run (left running, its transaction lost)
    job = run(acme.company, csv_bytes(good_rows()), "crash.csv")
    with company_context(acme.company.id):
        ImportJob.objects.filter(id=job.id).update(status=ImportStatus.RUNNING)
        # when the message is delivered again
        services.import_job_run(job_id=job.id)
        job.refresh_from_db()
    # then it finishes and nothing was counted twice
    assert (job.status, job.attempts, job.created, job.duplicates) == (ImportStatus.SUCCEEDED, 2, 0, 3)
    assert len(recorded(acme.company)) == 3


def test_a_finished_job_delivered_again_is_left_as_it_is(acme):
    job = run(acme.company, csv_bytes(good_rows()), "once.csv")
    with company_context(acme.company.id):
        again = services.import_job_run(job_id=job.id)
    assert (again.status, again.attempts, again.created) == (ImportStatus.SUCCEEDED, 1, 3)


def test_the_sweep_queues_stale_jobs_again_and_gives_up_after_the_attempts(acme, settings):
    settings.IMPORT_MAX_ATTEMPTS = 3
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(
        seconds=settings.IMPORT_STALE_SECONDS + 1
    )
    with company_context(acme.company.id), mock.patch("integrations.services._enqueue_on_commit"):
        stuck = services.import_job_create(file=upload(csv_bytes(good_rows()), "a.csv"))
        hopeless = services.import_job_create(file=upload(csv_bytes(good_rows()), "b.csv"))
        ImportJob.objects.filter(id=stuck.id).update(status=ImportStatus.RUNNING, attempts=1)
        ImportJob.objects.filter(id=hopeless.id).update(status=ImportStatus.RUNNING, attempts=3)
        with mock.patch("integrations.services._enqueue_on_commit") as enqueue:
            assert services.imports_resume_stale(now=datetime.datetime.now(datetime.UTC)) == []
            assert services.imports_resume_stale(now=later) == [stuck.id]
        assert [call.args[0].id for call in enqueue.call_args_list] == [stuck.id]
        hopeless.refresh_from_db()
    assert hopeless.status == ImportStatus.FAILED
    assert hopeless.errors[0]["row"] is None


def test_progress_is_published_while_running_and_kept_when_done(acme):
    with company_context(acme.company.id), mock.patch("integrations.services._enqueue_on_commit"):
        job = services.import_job_create(file=upload(csv_bytes(good_rows()), "p.csv"))
        job.status = ImportStatus.RUNNING
        cache.set(progress_key(job.id), (2, 3))
        assert import_job_progress(job) == (2, 3)
        services.import_job_run(job_id=job.id)
        job.refresh_from_db()
    assert import_job_progress(job) == (3, 3)
    assert cache.get(progress_key(job.id)) is None


def test_a_kpi_definitions_file_goes_through_the_kpi_services(acme):
    rows = [["integration_name", "name_en", "name_ru"], ["visits", "Visits", "Визиты"], ["calls", "", ""]]

    job = run(acme.company, xlsx_bytes(rows), "kpis.xlsx", kind=ImportKind.KPIS, actor=acme.admin)

    assert job.status == ImportStatus.FAILED  # "calls" exists: a row without a name is refused
    assert job.errors
    assert all(error["row"] == 3 for error in job.errors)
    with company_context(acme.company.id):
        assert not Kpi.objects.filter(integration_name="visits").exists()
        rows.pop()
    job = run(acme.company, xlsx_bytes(rows), "kpis.xlsx", kind=ImportKind.KPIS, actor=acme.admin)
    assert (job.status, job.created) == (ImportStatus.SUCCEEDED, 1), job.errors
    with company_context(acme.company.id):
        assert Kpi.objects.get(integration_name="visits").name_ru == "Визиты"


def test_a_units_file_goes_through_the_unit_services_all_or_nothing(acme):
    from kpis.models import Change, Unit

    # given a file with a new unit and one whose Russian name is the first one's English name (K3)
    rows = [["name_en", "name_ru"], ["boxes", "коробки"], ["crates", "BOXES"]]

    # when it is imported
    job = run(acme.company, csv_bytes(rows), "units.csv", kind=ImportKind.UNITS, actor=acme.admin)

    # then the second row is refused with the service's message, and nothing is written
    assert job.status == ImportStatus.FAILED
    assert [(error["row"], error["column"]) for error in job.errors] == [(3, "name_ru")]
    with company_context(acme.company.id):
        assert not Unit.objects.filter(name_en__in=["boxes", "crates"]).exists()
    # when the file is corrected
    rows.pop()
    job = run(acme.company, csv_bytes(rows), "units.csv", kind=ImportKind.UNITS, actor=acme.admin)
    # then the unit is created by the service, which wrote its history with the admin as the actor
    assert (job.status, job.created) == (ImportStatus.SUCCEEDED, 1), job.errors
    with company_context(acme.company.id):
        boxes = Unit.objects.get(name_en="boxes")
        assert boxes.name_ru == "коробки"
        change = Change.objects.get(object_type="unit", object_id=boxes.pk)
        assert change.actor_id == acme.admin.pk


def test_row_errors_are_written_in_the_uploaders_language(acme):
    from django.utils import translation

    rows = [ACTION_HEADER, ["ann@acme.example", "calls", "много", YESTERDAY, "", ""]]

    with translation.override("ru"):
        job = run(acme.company, csv_bytes(rows), "ru.csv")

    assert job.language == "ru"
    assert job.errors == [{"row": 2, "column": "value", "message": job.errors[0]["message"]}]
    with translation.override("ru"):
        expected = translation.gettext("A value is a number ≥ 0 with at most two decimal places.")
    assert job.errors[0]["message"] == expected != "A value is a number ≥ 0 with at most two decimal places."


def test_a_people_file_creates_new_people_once_and_reports_bad_rows(acme, in_company_of):
    from orgs.models import Member
    from orgs.services import department_create, team_create

    with company_context(acme.company.id):
        sales = department_create(name="Sales")
        team_create(name="Hunters", department=sales)
    rows = [
        ["E-mail", "Имя", "Фамилия", "Роль", "Отдел", "Команда", "External ID"],
        ["new@acme.example", "Nia", "New", "Team lead", "sales", "hunters", "e-nia"],
        ["ann@acme.example", "Ann", "", "", "", "", ""],  # already a person: a duplicate
        ["olga@acme.example", "Ольга", "", "Сотрудник", "", "", ""],  # the role's Russian name
    ]

    job = run(acme.company, xlsx_bytes(rows), "people.xlsx", kind=ImportKind.MEMBERS)

    assert (job.status, job.created, job.duplicates) == (ImportStatus.SUCCEEDED, 2, 1), job.errors
    with company_context(acme.company.id):
        nia = Member.objects.select_related("team").get(user__email="new@acme.example")
        assert (nia.role, nia.team.name, nia.department_id, nia.external_id) == (
            "lead",
            "Hunters",
            sales.id,
            "e-nia",
        )
        assert Member.objects.get(user__email="olga@acme.example").role == "member"

    # the same file again adds nobody; a bad row fails the whole file
    again = run(acme.company, xlsx_bytes(rows), "people.xlsx", kind=ImportKind.MEMBERS)
    rows.append(["zoe@acme.example", "", "", "boss", "Nowhere", "", "e-nia"])
    bad = run(acme.company, xlsx_bytes(rows), "people2.xlsx", kind=ImportKind.MEMBERS)

    assert (again.status, again.created, again.duplicates) == (ImportStatus.SUCCEEDED, 0, 3)
    assert bad.status == ImportStatus.FAILED
    assert [(e["row"], e["column"]) for e in bad.errors] == [(5, "Роль")]
    with company_context(acme.company.id):
        assert not Member.objects.filter(user__email="zoe@acme.example").exists()


def test_a_people_file_with_another_companys_e_mail_adds_a_person_of_its_own(acme, globex):
    """O3, issue 17: the import neither refuses another company's address (an oracle) nor
    counts it as a duplicate: it is a new person of Acme, and Globex's Zed is untouched."""
    from orgs.models import Member, User

    rows = [["email", "first name"], ["Zed@globex.example", "Zara"]]
    before = User.objects.values().get(pk=globex.zed.pk)

    job = run(acme.company, csv_bytes(rows), "people.csv", kind=ImportKind.MEMBERS)

    assert (job.status, job.created, job.duplicates, job.errors) == (ImportStatus.SUCCEEDED, 1, 0, [])
    with company_context(acme.company.id):
        ours = Member.objects.select_related("user").get(user__email="zed@globex.example")
    assert (ours.user.company_id, ours.user.first_name) == (acme.company.id, "Zara")
    assert User.objects.values().get(pk=globex.zed.pk) == before
