"""The imports API (API.md "Imports"; PRODUCT I3, O2, I2): upload, poll, error report."""

import csv
import io

import openpyxl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integrations.models import ImportJob
from integrations.tests.conftest import YESTERDAY
from integrations.tests.files import ACTION_HEADER, csv_bytes, upload, xlsx_bytes
from orgs.tenancy import company_context
from ratings.models import KpiAction

IMPORTS = "/api/v1/imports/"


def rows_with_one_error() -> list[list]:
    return [
        ACTION_HEADER,
        ["ann@acme.example", "calls", "3", YESTERDAY, "a-1", ""],
        ["ann@acme.example", "nope", "1", YESTERDAY, "a-2", ""],
    ]


def post(client, content: bytes, name: str, **fields):
    return client.post(IMPORTS, {"file": upload(content, name), **fields}, format="multipart")


def test_an_upload_answers_at_once_and_the_job_is_followed_to_its_result(
    acme, token_client, eager, django_capture_on_commit_callbacks
):
    client = token_client(acme.company, scopes=("read", "actions"))
    rows = [ACTION_HEADER, ["ann@acme.example", "calls", "3", YESTERDAY, "a-1", ""]]

    # when (the worker takes the job once the upload commits)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post(client, xlsx_bytes(rows), "actions.xlsx")

    # then the upload answered before any row was read
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    assert response.json() == {
        "id": job_id,
        "status": "queued",
        "url": f"http://testserver/api/v1/imports/{job_id}/",
    }
    queued = client.get(response.json()["url"]).json()
    assert (queued["status"], queued["processed_rows"]) == ("queued", 0)

    # and once the worker ran it, the job shows its result
    for callback in callbacks:
        callback()
    assert client.get(response.json()["url"]).json() == {
        "id": job_id,
        "status": "succeeded",
        "total_rows": 1,
        "processed_rows": 1,
        "created": 1,
        "duplicates": 0,
        "errors": [],
        "error_report_url": None,
    }


def test_a_failed_import_lists_its_errors_and_offers_the_report(
    acme, token_client, eager, django_capture_on_commit_callbacks
):
    client = token_client(acme.company, scopes=("read", "actions"))
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, csv_bytes(rows_with_one_error()), "actions.csv")

    body = client.get(response.json()["url"]).json()

    assert body["status"] == "failed"
    assert (body["total_rows"], body["created"]) == (2, 0)
    assert body["errors"] == [{"row": 3, "column": "kpi", "message": body["errors"][0]["message"]}]
    assert body["error_report_url"] == f"http://testserver/api/v1/imports/{body['id']}/errors.xlsx"
    with company_context(acme.company.id):
        assert not KpiAction.objects.exists()

    # the report, as xlsx and as csv
    sheet = openpyxl.load_workbook(
        io.BytesIO(b"".join(client.get(body["error_report_url"]).streaming_content)), read_only=True
    ).active
    assert [list(row) for row in sheet.iter_rows(values_only=True)] == [
        ["row", "column", "message"],
        [3, "kpi", body["errors"][0]["message"]],
    ]
    report = client.get(f"{IMPORTS}{body['id']}/errors.csv")
    assert list(csv.reader(io.StringIO(b"".join(report.streaming_content).decode("utf-8-sig")))) == [
        ["row", "column", "message"],
        ["3", "kpi", body["errors"][0]["message"]],
    ]


def test_a_company_admin_may_import_in_the_browser_session(acme, client_for, eager):
    response = post(client_for(acme.admin), csv_bytes(rows_with_one_error()), "actions.csv")
    assert response.status_code == 202


def test_a_member_may_not_import(acme, client_for):
    response = post(client_for(acme.ann), csv_bytes(rows_with_one_error()), "actions.csv")
    assert response.status_code == 403
    with company_context(acme.company.id):
        assert not ImportJob.objects.exists()


@pytest.mark.parametrize(
    ("scopes", "kind", "expected"),
    [
        (("read",), "actions", 403),
        (("read", "actions"), "kpis", 403),
        (("read", "actions", "definitions"), "kpis", 202),
        (("read", "actions"), "members", 403),
        (("read", "actions", "org"), "members", 202),
    ],
)
def test_tokens_need_the_actions_scope_and_definitions_for_kpis(acme, token_client, scopes, kind, expected):
    client = token_client(acme.company, scopes=scopes)
    response = post(client, csv_bytes([["integration_name"], ["x"]]), "f.csv", kind=kind)
    assert response.status_code == expected, response.content


def test_the_api_keeps_to_the_kinds_of_api_md_units_are_the_admins_only(acme, token_client):
    client = token_client(acme.company, scopes=("read", "actions", "definitions"))
    response = post(client, csv_bytes([["name_en"], ["boxes"]]), "units.csv", kind="units")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "kind"
    with company_context(acme.company.id):
        assert not ImportJob.objects.exists()


def test_a_file_over_the_limit_is_413_and_a_wrong_type_415(acme, token_client, settings):
    client = token_client(acme.company, scopes=("read", "actions"))
    settings.IMPORT_MAX_BYTES = 100

    too_large = post(client, b"x" * 200_000, "big.csv")
    wrong_type = post(client, b"%PDF-1.4", "actions.pdf")
    not_multipart = client.post(IMPORTS, {"file": "x"}, format="json")

    assert too_large.status_code == 413
    assert too_large.json()["errors"][0]["code"] == "file_too_large"
    assert wrong_type.status_code == 415
    assert wrong_type.json()["errors"][0] == {
        "code": "unsupported_file_type",
        "field": "file",
        "message": wrong_type.json()["errors"][0]["message"],
        "index": None,
    }
    assert not_multipart.status_code == 415
    with company_context(acme.company.id):
        assert not ImportJob.objects.exists()


def test_without_a_file_the_upload_is_refused(acme, token_client):
    response = token_client(acme.company, scopes=("read", "actions")).post(IMPORTS, {}, format="multipart")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "file"


def test_another_companys_job_and_report_are_not_found(
    acme, globex, token_client, eager, assert_isolated, django_capture_on_commit_callbacks
):
    # given a failed import of Globex
    with django_capture_on_commit_callbacks(execute=True):
        theirs = post(
            token_client(globex.company, scopes=("read", "actions")),
            csv_bytes(rows_with_one_error()),
            "g.csv",
        )
    job_id = theirs.json()["id"]
    ours = token_client(acme.company, scopes=("read", "actions"))

    # then Acme sees neither the job nor its report
    assert_isolated(ours.get(f"{IMPORTS}{job_id}/"))
    assert_isolated(ours.get(f"{IMPORTS}{job_id}/errors.xlsx"))
    assert_isolated(ours.get(f"{IMPORTS}{job_id}/errors.csv"))


def test_polling_a_job_reads_the_token_and_the_job_only(acme, token_client):
    client = token_client(acme.company, scopes=("read", "actions"))
    job_id = post(client, csv_bytes(rows_with_one_error()), "a.csv").json()["id"]

    with CaptureQueriesContext(connection) as captured:
        assert client.get(f"{IMPORTS}{job_id}/").status_code == 200

    # savepoints and PostgreSQL's SET LOCAL of the company aside: the token, then the job with its uploader
    reads = [query["sql"] for query in captured.captured_queries if query["sql"].startswith("SELECT")]
    assert len(reads) == 2
    assert '"orgs_apitoken"' in reads[0]
    assert '"integrations_importjob"' in reads[1]
