"""The bad input corpus (issue 8; PRODUCT I3, R1, R3, R4, O2; API.md "Errors", "Actions", "Imports").

Every case goes in the way a client sends it: a file through the imports API (upload, the worker's
code run eagerly as the upload commits, then the job read back), and, where the case has a JSON
form, a batch through the actions API. Each bad case gets its clear error (row, column and message
for a file; the ``{"errors": [...]}`` body for the API) and records nothing: the company's actions
and every aggregate that leaderboards and dashboards read are exactly as before, in both companies.
Cases that the product's rules accept (Excel dates, numbers as text, times without a zone, the same
row twice) are recorded, and their result is checked instead.
"""

import datetime
import io
import json
import zipfile
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Count, Sum

from integrations import services as import_services
from integrations.models import ImportJob
from integrations.tests.conftest import YESTERDAY
from integrations.tests.files import ACTION_HEADER, csv_bytes, upload, xlsx_bytes
from orgs.tenancy import company_context
from ratings import services as ratings_services
from ratings.models import CompanyDailyTotal, DailyTotal, KpiAction, RatingBoard, RatingTotal

IMPORTS = "/api/v1/imports/"
ACTIONS = "/api/v1/actions/"
DATA = Path(__file__).resolve().parents[2] / "tests" / "data"
MOSCOW = ZoneInfo("Europe/Moscow")
DAY = datetime.date.fromisoformat(YESTERDAY)

# The messages a person reads (English: the uploader's language).
EMPTY = "The file is empty."
NO_ROWS = "The file has no rows below the header."
NOT_UTF8 = "The file is not UTF-8 text: save it as csv (UTF-8) or xlsx."
NOT_CSV = "This is not a csv file: save it as csv (UTF-8) or xlsx."
NOT_XLSX = "This is not an xlsx file: save it as xlsx or csv (UTF-8)."
UNPACKS = "The xlsx file unpacks to more data than an import may hold."
WRONG_DELIMITER = "The columns are separated by tabs: save the csv with commas or semicolons."
VALUE = "A value is a number ≥ 0 with at most two decimal places."
REQUIRED = "This field is required."
WHEN = "Give the time in ISO 8601 (e.g. 2026-11-02T10:00:00+03:00), not more than a day ahead."


def no_column(name: str) -> str:
    return f"The file has no column “{name}”."


def unknown_kpi(name: str) -> str:
    return f"No KPI has the integration name “{name}”."


def unknown_user(key: str) -> str:
    return f"No active person has the e-mail or external id “{key}”."


# --- The world the corpus runs in -----------------------------------------------------------------


@pytest.fixture
def world(acme, globex):
    """Acme and Globex, each with an action already recorded, so "nothing changed" is not "empty"."""
    for company, item in (
        (acme.company, {"kpi": "calls", "user": "ann@acme.example", "external_id": "before"}),
        (globex.company, {"kpi": "sales", "user": "zed@globex.example", "external_id": "before"}),
    ):
        with company_context(company.id):
            ratings_services.actions_record(items=[{**item, "value": "7", "occurred_at": YESTERDAY}])
    return acme, globex


def ledger(company) -> dict:
    """Everything recording writes, summed: the actions and each aggregate table."""
    with company_context(company.id):
        return {
            "actions": KpiAction.objects.aggregate(n=Count("id"), value=Sum("value"), points=Sum("points")),
            "daily": DailyTotal.objects.aggregate(value=Sum("value"), points=Sum("points"), n=Sum("actions")),
            "company_daily": CompanyDailyTotal.objects.aggregate(
                value=Sum("value"), points=Sum("points"), n=Sum("actions")
            ),
            "rating": RatingTotal.objects.aggregate(points=Sum("points"), rows=Count("*")),
            "boards": RatingBoard.objects.aggregate(people=Sum("people")),
        }


@pytest.fixture
def unchanged(world):
    """``with unchanged(): ...`` fails unless both companies' ledgers end as they began."""

    @contextmanager
    def check():
        before = [ledger(company.company) for company in world]
        yield
        assert [ledger(company.company) for company in world] == before

    return check


@pytest.fixture
def imports(world, token_client, eager, django_capture_on_commit_callbacks):
    """``imports(content, name)``: the job's JSON after the upload and the worker's run."""
    acme, _globex = world
    client = token_client(acme.company, scopes=("read", "actions"))

    def run(content: bytes, name: str) -> dict:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(IMPORTS, {"file": upload(content, name)}, format="multipart")
        assert response.status_code == 202, response.content
        return client.get(response.json()["url"]).json()

    run.client = client
    return run


@pytest.fixture
def api(world, token_client):
    acme, _globex = world
    return token_client(acme.company, scopes=("read", "actions"))


def row(user="ann@acme.example", kpi="calls", value="1", occurred_at=YESTERDAY, external_id="", comment=""):
    return [user, kpi, value, occurred_at, external_id, comment]


def item(user="ann@acme.example", kpi="calls", value="1", occurred_at=f"{YESTERDAY}T10:00:00+03:00", **extra):
    return {"user": user, "kpi": kpi, "value": value, "occurred_at": occurred_at, **extra}


def error(code: str, field: str | None, message: str, index: int | None = None) -> dict:
    return {"code": code, "field": field, "message": message, "index": index}


# --- Files that fail as a whole, or row by row ----------------------------------------------------


def _zip_bomb() -> bytes:
    # A real workbook with a part of 32 MB of zeros, about a thousand-fold compressed.
    output = io.BytesIO(xlsx_bytes([ACTION_HEADER, row()]))
    with zipfile.ZipFile(output, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/media/padding.bin", b"\0" * (32 * 1024 * 1024))
    return output.getvalue()


def _entity_bomb() -> bytes:
    # A billion laughs: the sheet's DTD defines lol9 as 10^8 "lol"s and a cell uses it.
    laughs = "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(2, 10))
    source = zipfile.ZipFile(io.BytesIO(xlsx_bytes([ACTION_HEADER, row(user="PLACEHOLDER")])))
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            data = source.read(entry.filename)
            if entry.filename == "xl/worksheets/sheet1.xml":
                dtd = f'<!DOCTYPE lolz [<!ENTITY lol1 "lol">{laughs}]>'.encode()
                data = dtd + data.replace(b"PLACEHOLDER", b"&lol9;")
            target.writestr(entry, data)
    return output.getvalue()


def _png() -> bytes:
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4


@dataclass(frozen=True)
class Refused:
    """A file the job refuses: these errors, in this order, and nothing recorded."""

    name: str
    content: Callable[[], bytes]
    errors: list[tuple[int | None, str | None, str]]


REFUSED = {
    "empty csv": Refused("a.csv", lambda: b"", [(None, None, EMPTY)]),
    "empty csv with a BOM and blank lines": Refused(
        "a.csv", lambda: b"\xef\xbb\xbf\r\n\r\n", [(None, None, EMPTY)]
    ),
    "empty xlsx": Refused("a.xlsx", lambda: xlsx_bytes([]), [(None, None, EMPTY)]),
    "header only, csv": Refused("a.csv", lambda: csv_bytes([ACTION_HEADER]), [(None, None, NO_ROWS)]),
    "header only, xlsx": Refused("a.xlsx", lambda: xlsx_bytes([ACTION_HEADER]), [(None, None, NO_ROWS)]),
    "wrong columns": Refused(
        "a.csv",
        lambda: csv_bytes([["who", "kpi", "value", "when"], row()[:4]]),
        [(1, "user", no_column("user")), (1, "occurred_at", no_column("occurred_at"))],
    ),
    "a missing column": Refused(
        "a.xlsx",
        lambda: xlsx_bytes([["user", "kpi", "occurred_at"], ["ann@acme.example", "calls", YESTERDAY]]),
        [(1, "value", no_column("value"))],
    ),
    "wrong delimiter (tabs)": Refused(
        "a.csv", lambda: csv_bytes([ACTION_HEADER, row()], delimiter="\t"), [(None, None, WRONG_DELIMITER)]
    ),
    "non-UTF-8 text (Windows-1251)": Refused(
        "a.csv",
        lambda: csv_bytes([ACTION_HEADER, row(comment="звонок")]).decode().encode("cp1251"),
        [(None, None, NOT_UTF8)],
    ),
    "non-UTF-8 bytes in the last of many rows": Refused(
        "a.csv",
        lambda: (
            csv_bytes([ACTION_HEADER] + [row()] * 3000) + b"ann@acme.example,calls,1,2026-01-01,,caf\xe9\r\n"
        ),
        [(None, None, NOT_UTF8)],
    ),
    # Spreadsheet programs save a formula's result with it (test_formula_cells_count_their_computed_
    # value); one written by a program that never computed it has no value to read: an empty cell.
    "a formula saved without its result": Refused(
        "a.xlsx", lambda: xlsx_bytes([ACTION_HEADER, row(value="=1+2")]), [(2, "value", REQUIRED)]
    ),
    "a formula as csv text is text, not a number": Refused(
        "a.csv", lambda: csv_bytes([ACTION_HEADER, row(value="=1+2")]), [(2, "value", VALUE)]
    ),
    "an Excel date typed as a plain number": Refused(
        "a.xlsx",
        lambda: xlsx_bytes([ACTION_HEADER, row(value=1, occurred_at=46000.5)]),
        [(2, "occurred_at", WHEN)],
    ),
    "a renamed binary (png as csv)": Refused("a.csv", _png, [(None, None, NOT_CSV)]),
    "a renamed binary (png as xlsx)": Refused("a.xlsx", _png, [(None, None, NOT_XLSX)]),
    "an xlsx renamed to csv": Refused(
        "a.csv", lambda: xlsx_bytes([ACTION_HEADER, row()]), [(None, None, NOT_CSV)]
    ),
    "values with three decimals": Refused(
        "a.xlsx",
        lambda: xlsx_bytes([ACTION_HEADER, row(value="1.005"), row(value=2.125)]),
        [(2, "value", VALUE), (3, "value", VALUE)],
    ),
    "negative values": Refused(
        "a.csv",
        lambda: csv_bytes([ACTION_HEADER, row(value="-1"), row(value="-0.01")]),
        [(2, "value", VALUE), (3, "value", VALUE)],
    ),
    # Issue 17: what Decimal() reads besides ^[0-9]+(\.[0-9]{1,2})?$ (-0 was kept as -0.00).
    "numbers that are not digits and a point": Refused(
        "a.csv",
        lambda: csv_bytes(
            [ACTION_HEADER, row(value="-0"), row(value="1_000"), row(value="٣"), row(value="1e2")]
        ),
        [(2, "value", VALUE), (3, "value", VALUE), (4, "value", VALUE), (5, "value", VALUE)],
    ),
    # Issue 17: PostgreSQL keeps offsets up to ±15:59; +23:59 was an "unexpected error".
    "offsets beyond ±15:59": Refused(
        "a.csv",
        lambda: csv_bytes(
            [
                ACTION_HEADER,
                row(occurred_at=f"{YESTERDAY}T10:00:00+23:59"),
                row(occurred_at=f"{YESTERDAY}T10:00-16:00"),
            ]
        ),
        [(2, "occurred_at", WHEN), (3, "occurred_at", WHEN)],
    ),
    # Issue 17: a lone surrogate cannot be in UTF-8, nor in an xlsx's XML (openpyxl writes &#55296;).
    "a lone surrogate in an xlsx cell": Refused(
        "a.xlsx",
        lambda: xlsx_bytes([ACTION_HEADER, row(comment="a\ud800b")]),
        [
            (
                None,
                None,
                "The xlsx file cannot be read: invalid character reference: `55296` is not a valid codepoint",
            )
        ],
    ),
    "a lone surrogate in csv (CESU-8 bytes)": Refused(
        "a.csv",
        lambda: csv_bytes([ACTION_HEADER, row(comment="PLACEHOLDER")]).replace(
            b"PLACEHOLDER", b"a\xed\xa0\x80b"
        ),
        [(None, None, NOT_UTF8)],
    ),
    "unknown people and KPIs": Refused(
        "a.csv",
        lambda: csv_bytes([ACTION_HEADER, row(user="ghost@acme.example"), row(kpi="nope")]),
        [(2, "user", unknown_user("ghost@acme.example")), (3, "kpi", unknown_kpi("nope"))],
    ),
    "another company's people and KPIs": Refused(
        "a.xlsx",
        lambda: xlsx_bytes([ACTION_HEADER, row(user="zed@globex.example"), row(kpi="sales")]),
        [(2, "user", unknown_user("zed@globex.example")), (3, "kpi", unknown_kpi("sales"))],
    ),
    "the same external id with other content": Refused(
        "a.csv",
        lambda: csv_bytes([ACTION_HEADER, row(external_id="x-1"), row(external_id="x-1", value="2")]),
        [(3, "external_id", "An action with the external id “x-1” exists with different content.")],
    ),
}


@pytest.mark.parametrize("case", REFUSED.values(), ids=REFUSED.keys())
def test_a_bad_file_fails_with_its_clear_errors_and_records_nothing(imports, unchanged, case):
    with unchanged():
        job = imports(case.content(), case.name)

    assert job["status"] == "failed"
    assert [(e["row"], e["column"], e["message"]) for e in job["errors"]] == case.errors
    assert (job["created"], job["duplicates"]) == (0, 0)
    assert job["error_report_url"].endswith("/errors.xlsx")


def test_an_xlsx_zip_bomb_is_refused_by_its_declared_sizes(imports, unchanged, settings):
    settings.IMPORT_MAX_UNCOMPRESSED_BYTES = 16 * 1024 * 1024
    content = _zip_bomb()
    assert len(content) < 100 * 1024

    with unchanged():
        job = imports(content, "bomb.xlsx")

    assert (job["status"], job["errors"]) == ("failed", [{"row": None, "column": None, "message": UNPACKS}])


def test_an_xml_entity_bomb_is_refused_without_expanding_it(imports, unchanged):
    with unchanged():
        job = imports(_entity_bomb(), "laughs.xlsx")

    assert job["status"] == "failed"
    [only] = job["errors"]
    assert (only["row"], only["column"]) == (None, None)
    assert only["message"].startswith("The xlsx file cannot be read: ")
    assert "entity" in only["message"]


def test_twenty_chunks_of_good_rows_with_one_bad_row_at_the_end_record_nothing(
    imports, unchanged, monkeypatch
):
    # given 2,000 good rows, twenty chunks of 100 (each a batch of the recording service, as each
    # 10,000 rows of a large file are), and a bad last one
    monkeypatch.setattr(import_services, "IMPORT_CHUNK", 100)
    rows = [ACTION_HEADER] + [row(external_id=f"n-{n}") for n in range(2_000)] + [row(value="-5")]

    # when
    with unchanged():
        job = imports(csv_bytes(rows), "large.csv")

    # then the batches already recorded were rolled back with the file
    assert (job["status"], job["total_rows"], job["created"]) == ("failed", 2_001, 0)
    assert job["errors"] == [{"row": 2_002, "column": "value", "message": VALUE}]


# --- Upload refusals: before anything is stored ---------------------------------------------------


def _assert_no_job(company) -> None:
    with company_context(company.id):
        assert not ImportJob.objects.exists()


def test_an_oversized_file_is_413_and_nothing_is_stored(world, imports, unchanged, settings):
    settings.IMPORT_MAX_BYTES = 1024 * 1024
    content = csv_bytes([ACTION_HEADER] + [row()] * 27_500)  # just over 1 MB: the service's check
    assert 1024 * 1024 < len(content) < 1024 * 1024 + 64 * 1024
    with unchanged():
        answers = [
            imports.client.post(IMPORTS, {"file": upload(data, "big.csv")}, format="multipart")
            # and twice that, refused by its Content-Length before the body is read
            for data in (content, content * 2)
        ]

    for answer in answers:
        assert answer.status_code == 413
        assert answer.json() == {"errors": [error("file_too_large", "file", "The file is larger than 1 MB.")]}
    _assert_no_job(world[0].company)


@pytest.mark.parametrize("name", ["actions.pdf", "actions", "actions.xls", "actions.csv.exe"])
def test_a_wrong_file_type_is_415_and_nothing_is_stored(world, imports, unchanged, name):
    with unchanged():
        response = imports.client.post(
            IMPORTS, {"file": upload(csv_bytes([ACTION_HEADER, row()]), name)}, format="multipart"
        )
    assert response.status_code == 415
    assert response.json() == {
        "errors": [error("unsupported_file_type", "file", "Upload an .xlsx or a .csv file.")]
    }
    _assert_no_job(world[0].company)


def test_an_upload_that_is_not_multipart_is_415(world, imports, unchanged):
    with unchanged():
        response = imports.client.post(IMPORTS, csv_bytes([ACTION_HEADER, row()]), content_type="text/csv")
    assert response.status_code == 415
    assert response.json() == {
        "errors": [error("unsupported_media_type", None, 'Unsupported media type "text/csv" in request.')]
    }
    _assert_no_job(world[0].company)


# --- Files the rules accept: the right result --------------------------------------------------------


def recorded(company) -> list[tuple]:
    with company_context(company.id):
        return sorted(
            KpiAction.objects.exclude(external_id="before").values_list(
                "member__user__email", "value", "occurred_at", "comment"
            )
        )


def at(day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=MOSCOW)


def test_excel_date_cells_and_numbers_and_dates_as_text_are_read_as_meant(world, imports):
    # given an xlsx with date cells, and numbers and dates typed as text
    dotted = DAY.strftime("%d.%m.%Y")
    rows = [
        ACTION_HEADER,
        row(value=3, occurred_at=datetime.datetime.combine(DAY, datetime.time(23, 30)), comment="a"),
        row(value=1.5, occurred_at=DAY, comment="b"),
        row(value="4", occurred_at=f"{dotted} 09:15", comment="c"),
        row(value="2,5", occurred_at=f"{YESTERDAY}T08:00:00", comment="d"),
        row(value=" 12.50 ", occurred_at=dotted, comment="e"),
    ]

    job = imports(xlsx_bytes(rows), "typed.xlsx")

    # then each is recorded in the company's time zone (Moscow), as a person reads the sheet
    assert (job["status"], job["created"]) == ("succeeded", 5), job["errors"]
    ann = "ann@acme.example"
    assert recorded(world[0].company) == sorted(
        [
            (ann, Decimal("3.00"), at(DAY, 23, 30), "a"),
            (ann, Decimal("1.50"), at(DAY, 0), "b"),
            (ann, Decimal("4.00"), at(DAY, 9, 15), "c"),
            (ann, Decimal("2.50"), at(DAY, 8), "d"),
            (ann, Decimal("12.50"), at(DAY, 0), "e"),
        ]
    )


def test_times_without_a_zone_are_the_companys_local_time(world, imports):
    rows = [
        ACTION_HEADER,
        row(occurred_at=f"{YESTERDAY} 10:00"),
        row(occurred_at=f"{YESTERDAY}T10:00:00+00:00"),
    ]

    job = imports(csv_bytes(rows), "zones.csv")

    assert job["status"] == "succeeded", job["errors"]
    assert [moment for _, _, moment, _ in recorded(world[0].company)] == [at(DAY, 10), at(DAY, 13)]


def test_formula_cells_count_their_computed_value(world, imports):
    # tests/data/actions-formula.xlsx: C2 is =1+2, saved with its result as spreadsheets do
    job = imports((DATA / "actions-formula.xlsx").read_bytes(), "formula.xlsx")

    assert (job["status"], job["created"]) == ("succeeded", 1), job["errors"]
    assert [value for _, value, _, _ in recorded(world[0].company)] == [Decimal("3.00")]


def test_the_same_row_twice_with_one_external_id_counts_once(world, imports):
    # R4: the second is a duplicate of the first, in the same file and in a file after it
    rows = [ACTION_HEADER, row(external_id="x-1", value="2"), row(external_id="x-1", value="2")]

    first = imports(csv_bytes(rows), "twice.csv")
    again = imports(csv_bytes(rows[:2]), "again.csv")

    assert (first["status"], first["created"], first["duplicates"]) == ("succeeded", 1, 1)
    assert (again["status"], again["created"], again["duplicates"]) == ("succeeded", 0, 1)
    assert len(recorded(world[0].company)) == 1


def test_equal_rows_without_an_external_id_are_separate_actions_but_the_file_counts_once(world, imports):
    # R4: a row without an external id is told apart by its place in the file (two equal calls
    # are two calls), and the same file uploaded again counts nothing twice
    rows = [ACTION_HEADER, row(value="2"), row(value="2")]

    first = imports(csv_bytes(rows), "equal.csv")
    again = imports(csv_bytes(rows), "equal-again.csv")

    assert (first["created"], first["duplicates"]) == (2, 0)
    assert (again["created"], again["duplicates"]) == (0, 2)
    assert len(recorded(world[0].company)) == 2


# --- The same corpus through the actions API ------------------------------------------------------

BATCH_REFUSED = {
    "an empty object": (
        {},
        [
            error("required", "kpi", REQUIRED),
            error("required", "user", REQUIRED),
            error("required", "value", REQUIRED),
        ],
    ),
    "wrong field names": (
        [{"usr": "ann@acme.example", "kpi": "calls", "val": "1"}],
        [error("required", "user", REQUIRED, 0), error("required", "value", REQUIRED, 0)],
    ),
    "a formula is text, not a number": ([item(value="=1+2")], [error("value_invalid", "value", VALUE, 0)]),
    "an Excel date serial number": (
        [item(occurred_at=46000.5)],
        [error("occurred_at_invalid", "occurred_at", WHEN, 0)],
    ),
    "three decimals": (
        [item(value="1.005"), item(value=2.125)],
        [error("value_invalid", "value", VALUE, 0), error("value_invalid", "value", VALUE, 1)],
    ),
    "negative values": (
        [item(value="-1"), item(value=-0.01)],
        [error("value_invalid", "value", VALUE, 0), error("value_invalid", "value", VALUE, 1)],
    ),
    "numbers that are not digits and a point (issue 17)": (
        [item(value="-0"), item(value="1_000"), item(value="٣"), item(value=" 1e2 ")],
        [error("value_invalid", "value", VALUE, index) for index in range(4)],
    ),
    "offsets beyond ±15:59 (issue 17)": (
        [item(occurred_at=f"{YESTERDAY}T10:00:00+23:59"), item(occurred_at=f"{YESTERDAY}T10:00:00-16:00")],
        [error("occurred_at_invalid", "occurred_at", WHEN, index) for index in range(2)],
    ),
    "unknown people and KPIs": (
        [item(user="ghost@acme.example"), item(kpi="nope")],
        [
            error("unknown_user", "user", unknown_user("ghost@acme.example"), 0),
            error("unknown_kpi", "kpi", unknown_kpi("nope"), 1),
        ],
    ),
    "another company's people and KPIs": (
        [item(user="zed@globex.example"), item(kpi="sales")],
        [
            error("unknown_user", "user", unknown_user("zed@globex.example"), 0),
            error("unknown_kpi", "kpi", unknown_kpi("sales"), 1),
        ],
    ),
    "one external id with two contents": (
        [item(external_id="x-1"), item(external_id="x-1", value="2")],
        [
            error(
                "external_id_conflict",
                "external_id",
                "An action with the external id “x-1” exists with different content.",
                1,
            )
        ],
    ),
}


@pytest.mark.parametrize(("body", "errors"), BATCH_REFUSED.values(), ids=BATCH_REFUSED.keys())
def test_a_bad_batch_is_refused_with_every_error_and_records_nothing(api, unchanged, body, errors):
    with unchanged():
        response = api.post(ACTIONS, body, format="json")

    assert response.status_code == (409 if errors[0]["code"] == "external_id_conflict" else 400)
    assert response.json() == {"errors": errors}


def test_a_full_batch_with_one_bad_item_at_the_end_records_nothing(api, unchanged):
    batch = [item(external_id=f"n-{n}") for n in range(4999)] + [item(value="-5")]
    with unchanged():
        response = api.post(ACTIONS, batch, format="json")
        too_many = api.post(ACTIONS, [*batch, item()], format="json")

    assert response.status_code == 400
    assert response.json() == {"errors": [error("value_invalid", "value", VALUE, 4999)]}
    assert too_many.status_code == 400
    assert too_many.json() == {
        "errors": [error("batch_too_large", None, "A batch has at most 5000 actions.")]
    }


def test_a_full_batch_with_long_comments_fits_and_a_larger_body_is_413(world, api, unchanged, settings):
    # given the largest batch API.md allows, with long comments: over Django's 2.5 MB default
    batch = [item(external_id=f"c-{n}", comment="x" * 1000) for n in range(5000)]

    response = api.post(ACTIONS, batch, format="json")

    assert response.status_code == 201, response.content[:300]
    assert len(recorded(world[0].company)) == 5000

    # and a body over the limit is refused in the API's error format, with nothing recorded
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
    with unchanged():
        too_large = api.post(
            ACTIONS,
            [{**entry, "external_id": f"d{n}"} for n, entry in enumerate(batch[:2000])],
            format="json",
        )
    assert too_large.status_code == 413
    assert too_large.json() == {
        "errors": [
            error("body_too_large", None, "The request is larger than 1 MB: send it in smaller batches.")
        ]
    }


@pytest.mark.parametrize(
    ("body", "content_type", "status", "codes"),
    [
        (b"", "application/json", 400, ["required", "required", "required"]),
        (
            b'[{"kpi": "calls", "user": "ann@acme.example", "value": "1", "comment": "caf\xe9"}]',
            "application/json",
            400,
            ["parse_error"],
        ),
        (b'[{"kpi": "calls",', "application/json", 400, ["parse_error"]),
        (b"user,kpi,value\nann@acme.example,calls,1\n", "text/csv", 415, ["unsupported_media_type"]),
    ],
    ids=["empty body", "non-UTF-8 bytes", "cut-off JSON", "a csv body"],
)
def test_a_body_that_is_not_json_is_refused_in_the_error_format(
    api, unchanged, body, content_type, status, codes
):
    with unchanged():
        response = api.generic("POST", ACTIONS, body, content_type=content_type)

    assert response.status_code == status, response.content
    errors = response.json()["errors"]
    assert [e["code"] for e in errors] == codes
    assert all(set(e) == {"code", "field", "message", "index"} and e["message"] for e in errors)


def test_lone_surrogates_in_a_batch_are_invalid_naming_each_field_and_record_nothing(api, unchanged):
    """Issue 17: PostgreSQL cannot encode "\\ud800" (a 500 from psycopg); the JSON parser refuses it."""
    batch = [item(comment="a\ud800"), item(), item(kpi="calls\udfff", external_id="\udc00")]
    with unchanged():
        response = api.generic("POST", ACTIONS, json.dumps(batch).encode(), content_type="application/json")

    assert response.status_code == 400, response.content
    assert [(e["code"], e["field"], e["index"]) for e in response.json()["errors"]] == [
        ("invalid", "comment", 0),
        ("invalid", "kpi", 2),
        ("invalid", "external_id", 2),
    ]


def test_an_api_time_without_a_zone_is_the_companys_local_time_and_numbers_may_be_numbers(world, api):
    response = api.post(
        ACTIONS,
        [item(occurred_at=f"{YESTERDAY}T10:00:00", value=3), item(value=2.5, occurred_at=YESTERDAY)],
        format="json",
    )

    assert response.status_code == 201, response.content
    assert sorted((value, moment) for _, value, moment, _ in recorded(world[0].company)) == [
        (Decimal("2.50"), at(DAY, 0)),
        (Decimal("3.00"), at(DAY, 10)),
    ]


def test_the_same_item_twice_in_a_batch_counts_once(world, api):
    response = api.post(ACTIONS, [item(external_id="x-1"), item(external_id="x-1")], format="json")

    assert response.status_code == 201, response.content
    assert [r["status"] for r in response.json()["results"]] == ["created", "duplicate"]
    assert len(recorded(world[0].company)) == 1
