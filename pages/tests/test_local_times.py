"""Issue 18 (2): one action's time reads the same local time, in the company's zone, wherever a
person sees it: the profile, the logger's "Just recorded", the admin's list, change and void pages,
the actions export (csv and xlsx), the import job's page; and the API writes the same instant with
its offset. The action is recorded at 23:30 UTC on 9 November, 02:30 on the 10th in Moscow, so a
page that shows UTC shows another time and another day."""

import csv
import datetime
import io
from datetime import UTC

import openpyxl
import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.formats import date_format

from integrations.models import ImportJob
from kpi_platform.celery import app
from orgs.tenancy import company_context
from ratings.models import KpiAction
from ratings.tests.pages_org import build_org

INSTANT = datetime.datetime(2026, 11, 9, 23, 30, tzinfo=UTC)  # 2026-11-10 02:30 in Moscow
NOW = datetime.datetime(2026, 11, 10, 0, 0, tzinfo=UTC)


@pytest.fixture
def org(company, make_member):
    assert company.time_zone == "Europe/Moscow"
    return build_org(company, make_member)


def record_by_logger(client, org, token_client):
    client.force_login(org.lead.user)
    row = {"person": org.ann.user_id, "kpi": org.deals.id, "value": "2", "when": "2026-11-10T02:30"}
    response = client.post("/logger/", {f"{name}-0": value for name, value in row.items()})
    assert "1 action recorded." in response.content.decode()
    return org.lead


def record_by_import(client, org, token_client):
    """An actions file with the local time as people type it, uploaded in the admin."""
    content = b"user,kpi,value,occurred_at\r\nann@acme.example,deals,2,2026-11-10 02:30\r\n"
    client.force_login(org.admin.user)
    with time_machine.travel(INSTANT, tick=False):  # the job is uploaded at the same instant
        response = client.post(
            "/admin/integrations/importjob/add/",
            {"kind": "actions", "file": SimpleUploadedFile("actions.csv", content)},
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    return org.admin


def record_by_api(client, org, token_client):
    api = token_client(org.company, scopes=("actions",))
    body = {"user": "ann@acme.example", "kpi": "deals", "value": "2", "occurred_at": "2026-11-09T23:30:00Z"}
    response = api.post("/api/v1/actions/", body, format="json")
    assert response.status_code == 201, response.content
    return None


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))


@pytest.mark.parametrize("record", [record_by_logger, record_by_import, record_by_api])
def test_one_actions_time_reads_the_same_local_time_everywhere(
    client, org, token_client, record, monkeypatch, django_capture_on_commit_callbacks
):
    # given an action recorded at 23:30 UTC, 02:30 the next day in Moscow, by the logger, an
    # import or the API
    monkeypatch.setitem(app.conf, "task_always_eager", True)  # the import runs in the process
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        recorder = record(client, org, token_client)
    with company_context(org.company.id):
        action = KpiAction.objects.get()
    assert action.occurred_at == INSTANT
    assert action.day == datetime.date(2026, 11, 10)  # R6: the company's day
    local = date_format(INSTANT.astimezone(org.company.zone), "SHORT_DATETIME_FORMAT")
    utc = date_format(INSTANT, "SHORT_DATETIME_FORMAT")
    assert (local, utc) == ("11/10/2026 2:30 a.m.", "11/09/2026 11:30 p.m.")

    # when each place that shows it is read
    client.force_login(org.admin.user)
    pages = {
        "profile": client.get(f"/people/{org.ann.pk}/"),
        "admin list": client.get("/admin/ratings/kpiaction/"),
        "admin void": client.get(f"/admin/ratings/kpiaction/{action.pk}/void/"),
        "admin change": client.get(f"/admin/ratings/kpiaction/{action.pk}/change/"),
    }
    if recorder is not None:
        client.force_login(recorder.user)
        pages["logger"] = client.get("/logger/")
    client.force_login(org.admin.user)

    # then every page shows the local date and time, never UTC's, and names the zone where shown
    for name, response in pages.items():
        assert response.status_code == 200, name
        text = response.content.decode()
        assert local in text, name
        assert utc not in text, name
    for name in ("profile", "logger"):
        if name in pages:
            assert "Times are in the company’s time zone" in pages[name].content.decode()
            assert ">MSK</abbr>" in pages[name].content.decode()

    # and the actions export writes the local time: csv with its offset, xlsx as the local time
    export = {"action": "export_actions_csv", "_selected_action": [action.pk]}
    rows = csv_rows(client.post("/admin/ratings/kpiaction/", export))
    assert rows[1][1:3] == ["2026-11-10T02:30:00+03:00", "2026-11-10"]
    export["action"] = "export_actions_xlsx"
    workbook = openpyxl.load_workbook(
        io.BytesIO(b"".join(client.post("/admin/ratings/kpiaction/", export).streaming_content))
    )
    sheet = workbook.active
    assert sheet["B2"].value == datetime.datetime(2026, 11, 10, 2, 30)
    assert sheet["C2"].value == datetime.datetime(2026, 11, 10)

    # and the API writes the same instant, with its offset
    api = token_client(org.company, scopes=("read",))
    (item,) = api.get("/api/v1/actions/").json()["results"]
    assert datetime.datetime.fromisoformat(item["occurred_at"]) == INSTANT
    assert datetime.datetime.fromisoformat(item["occurred_at"]).utcoffset() is not None

    # and an import's job page shows when it was uploaded in local time too
    if record is record_by_import:
        with company_context(org.company.id):
            job = ImportJob.objects.get()
        page = client.get(f"/admin/integrations/importjob/{job.pk}/change/").content.decode()
        assert date_format(INSTANT.astimezone(org.company.zone), "DATETIME_FORMAT") in page
        assert date_format(INSTANT, "DATETIME_FORMAT") not in page
