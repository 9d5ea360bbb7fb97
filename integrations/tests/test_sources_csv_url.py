"""A CSV-at-URL integration source end to end (issue 20): the real connector against the fixture
server on 127.0.0.1, each run an import job, exactly once, a changed row a conflict."""

import datetime
from unittest import mock

import pytest

from integrations import services
from integrations.models import ImportStatus
from integrations.tests.fixture_server import csv_answer, server_fixture  # noqa: F401  # the fixture "server"
from orgs.tenancy import company_context
from ratings.models import ActionSource, KpiAction

NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
HEADER = "user,kpi,value,occurred_at,deal\n"
MAPPING = {"person": "user", "kpi": "kpi", "value": "value", "time": "occurred_at"}


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(NOW, tick=False)


def run(source):
    with company_context(source.company_id):
        with mock.patch("integrations.services.integration_source_run_task"):
            services.integration_source_run_now(source=source)
        job = services.integration_source_run(source_id=source.id)
        job.refresh_from_db()
        return job


def test_a_sheet_at_a_url_is_recorded_once_and_a_changed_row_is_a_conflict(acme, server, clock):
    # given a published sheet of two rows, connected as a source
    sheet = HEADER + "ann@acme.example,calls,1,2026-02-01,D-1\nbob@acme.example,calls,2,2026-02-02,D-2\n"
    server.route("/export.csv", csv_answer(sheet))
    with company_context(acme.company.id):
        source = services.integration_source_create(
            name="Sheet",
            kind="csv_url",
            settings={"url": server.url("/export.csv"), "id_column": "deal"},
            mapping=MAPPING,
        )
    # when it runs twice
    first, second = run(source), run(source)
    # then both rows are recorded once, as the source's
    assert (first.status, first.total_rows, first.created) == (ImportStatus.SUCCEEDED, 2, 2)
    assert (second.status, second.created, second.duplicates) == (ImportStatus.SUCCEEDED, 0, 2)
    with company_context(acme.company.id):
        actions = sorted(KpiAction.objects.values_list("external_id", "value", "source"))
    assert actions == [
        (f"src:{source.id}:D-1", 1, ActionSource.INTEGRATION),
        (f"src:{source.id}:D-2", 2, ActionSource.INTEGRATION),
    ]
    # and when a row is edited upstream and a new one added
    edited = HEADER + "ann@acme.example,calls,1,2026-02-01,D-1\nbob@acme.example,calls,5,2026-02-02,D-2\n"
    server.route("/export.csv", csv_answer(edited + "ann@acme.example,calls,4,2026-02-03,D-3\n"))
    third = run(source)
    # then the run fails on the edited row (its row number, its id) and records nothing
    assert third.status == ImportStatus.FAILED
    assert [(error["row"], error["column"]) for error in third.errors] == [(3, "id")]
    assert f"src:{source.id}:D-2" in third.errors[0]["message"]
    with company_context(acme.company.id):
        assert KpiAction.objects.count() == 2
