"""A JSON API integration source end to end (issue 20): the real connector against the fixture
server on 127.0.0.1, with a bearer token, records at a path, paging and ``updated since``; each run
an import job, exactly once across overlapping windows, the cursor stored only with a commit."""

import pytest
from django.core import mail

from integrations import services
from integrations.models import ImportStatus
from integrations.tests.fixture_server import (  # noqa: F401  # fixtures
    Answer,
    json_answer,
    loopback_only_fixture,
    paged_json,
    server_fixture,
)
from integrations.tests.runs import run
from orgs.tenancy import company_context
from ratings.models import ActionSource, KpiAction

TOKEN = "tok-j50n-5ecret"
MAPPING = {"person": "owner.email", "kpi": "kpi", "value": "amount", "time": "closed_at"}


def record(n: int, *, updated: str | None = None, email: str = "ann@acme.example", **changes) -> dict:
    """An API's record: the person nested (``owner.email``), its change time ``updated_at``."""
    return {
        "id": n,
        "owner": {"email": email, "name": "Someone"},
        "kpi": "calls",
        "amount": n,
        "closed_at": f"2026-02-{n:02d}T09:00:00Z",
        "updated_at": updated or f"2026-02-{n:02d}T10:00:00Z",
        **changes,
    }


def make_source(acme, server, *, pagination="next", **settings):
    defaults = {
        "url": server.url("/api/deals"),
        "records_path": "data.items",
        "id_field": "id",
        "updated_field": "updated_at",
        "updated_since_param": "updated_since",
        "pagination": pagination,
    }
    if pagination == "next":
        defaults["next_path"] = "links.next"
    with company_context(acme.company.id):
        return services.integration_source_create(
            name="Deals API",
            kind="json",
            settings={**defaults, **settings},
            credentials={"token": TOKEN},
            mapping=MAPPING,
        )


def recorded(company) -> list[tuple]:
    with company_context(company.id):
        return sorted(
            KpiAction.objects.values_list("external_id", "member__user__email", "value", "source"),
            key=lambda action: int(action[0].rsplit(":", 1)[1]),
        )


def outcome(job) -> tuple:
    return job.status, job.total_rows, job.created, job.duplicates


def test_runs_page_by_next_links_and_record_an_overlapping_window_once(acme, server, clock, sleeps):
    # given an API of five records, two a page, linked by "next", behind a bearer token
    records = [record(n) for n in range(1, 6)]
    server.route("/api/deals", paged_json(records, style="next"))
    source = make_source(acme, server)
    # when it runs
    first = run(source)
    # then every page is read with the token and each record recorded, as the source's
    assert outcome(first) == (ImportStatus.SUCCEEDED, 5, 5, 0)
    assert len(server.hits("/api/deals")) == 3
    assert {hit.headers["authorization"] for hit in server.requests} == {f"Bearer {TOKEN}"}
    assert server.requests[0].param("updated_since") is None
    assert recorded(acme.company) == [
        (f"src:{source.id}:{n}", "ann@acme.example", n, ActionSource.INTEGRATION) for n in range(1, 6)
    ]
    # and the cursor is the greatest change time of what was committed
    assert source.cursor == "2026-02-05T10:00:00Z"
    # when upstream adds records (one changed in the cursor's very second) and the source runs again
    records += [
        record(6, email="bob@acme.example"),
        record(7, updated="2026-02-05T10:00:00Z"),
        record(8, updated="2026-02-09T08:30:00Z"),
    ]
    server.requests.clear()
    second = run(source)
    # then it asked for the window from the cursor on, which holds record 5 again and the new ones
    assert server.requests[0].param("updated_since") == "2026-02-05T10:00:00Z"
    assert [hit.param("updated_since") for hit in server.requests] == ["2026-02-05T10:00:00Z"] * 2
    # and only the new ones are recorded, record 5 counted as a duplicate and never twice
    assert outcome(second) == (ImportStatus.SUCCEEDED, 4, 3, 1)
    actions = recorded(acme.company)
    assert [action[0] for action in actions] == [f"src:{source.id}:{n}" for n in range(1, 9)]
    assert actions[5][1] == "bob@acme.example"
    assert source.cursor == "2026-02-09T08:30:00Z"
    # and a third run with nothing new changes nothing and keeps the cursor
    third = run(source)
    assert outcome(third) == (ImportStatus.SUCCEEDED, 1, 0, 1)
    assert len(recorded(acme.company)) == 8
    assert source.cursor == "2026-02-09T08:30:00Z"
    assert sleeps == []


def test_a_page_failing_past_the_retries_records_nothing_and_the_next_run_redoes_it(
    acme, server, clock, sleeps
):
    # given an offset-paged API (two a page) whose first run recorded two records
    records = [record(1), record(2)]
    healthy = paged_json(records, style="offset")
    failures = {"left": 0}

    def api(request):
        if request.param("offset") == "2" and failures["left"]:
            failures["left"] -= 1
            return json_answer({"message": "upstream down"}, status=500)
        return healthy(request)

    server.route("/api/deals", api)
    source = make_source(acme, server, pagination="offset", page_size="2")
    assert outcome(run(source)) == (ImportStatus.SUCCEEDED, 2, 2, 0)
    assert source.cursor == "2026-02-02T10:00:00Z"
    # when four records are added and the second page answers 500 five times in a row
    records += [record(n) for n in range(3, 7)]
    failures["left"] = 5
    server.requests.clear()
    failed = run(source)
    # then the page was tried five times (waiting 1, 2, 4, 8 s) and the run failed saying why
    assert [hit.param("offset") for hit in server.requests] == ["0"] + ["2"] * 5
    assert sleeps == [1.0, 2.0, 4.0, 8.0]
    assert failed.status == ImportStatus.FAILED
    assert (failed.created, failed.duplicates) == (0, 0)
    assert [(error["row"], error["column"]) for error in failed.errors] == [(None, None)]
    assert "answered with the error 500" in failed.errors[0]["message"]
    # and nothing of its first page (record 3) was recorded, and the cursor was kept
    assert [action[0] for action in recorded(acme.company)] == [f"src:{source.id}:{n}" for n in (1, 2)]
    assert source.cursor == "2026-02-02T10:00:00Z"
    # when the next run finds the API healthy
    server.requests.clear()
    retried = run(source)
    # then it reads from the same cursor and records everything once
    assert {hit.param("updated_since") for hit in server.requests} == {"2026-02-02T10:00:00Z"}
    assert outcome(retried) == (ImportStatus.SUCCEEDED, 5, 4, 1)
    assert [action[0] for action in recorded(acme.company)] == [f"src:{source.id}:{n}" for n in range(1, 7)]
    assert source.cursor == "2026-02-06T10:00:00Z"


@pytest.mark.parametrize(
    ("bad", "row", "column", "named"),
    [
        ({"id": None}, 2, "id", ["Record 2", "“id”"]),
        ({"updated_at": "yesterday"}, 2, "updated_at", ["Record 2", "“updated_at”"]),
        ({"amount": "abc"}, 2, "amount", []),
        ({"owner": {"email": ""}}, 2, "owner.email", []),
    ],
    ids=["no id", "change time not a time", "value not a number", "no person"],
)
def test_a_malformed_record_fails_the_run_naming_it_and_records_nothing(
    acme, server, clock, sleeps, bad, row, column, named
):
    # given an API whose second record is malformed
    server.route("/api/deals", paged_json([record(1), record(2, **bad), record(3)], style="next"))
    source = make_source(acme, server)
    # when it runs
    job = run(source)
    # then the run failed naming the record's position and the field, and recorded nothing
    assert job.status == ImportStatus.FAILED
    assert [(error["row"], error["column"]) for error in job.errors] == [(row, column)]
    for words in named:
        assert words in job.errors[0]["message"]
    assert (job.created, job.duplicates) == (0, 0)
    assert recorded(acme.company) == []
    assert source.cursor == ""


def test_a_record_changed_upstream_is_a_conflict_and_nothing_of_the_run_is_recorded(
    acme, server, clock, sleeps
):
    # given two recorded records
    records = [record(1), record(2)]
    server.route("/api/deals", paged_json(records, style="next"))
    source = make_source(acme, server)
    run(source)
    # when upstream changes the value of the second and adds a third
    records[1] = record(2, amount=7, updated="2026-02-20T10:00:00Z")
    records.append(record(3))
    job = run(source)
    # then the run fails on the changed record (R4): its position in the run, its id
    assert job.status == ImportStatus.FAILED
    assert [(error["row"], error["column"]) for error in job.errors] == [(1, "id")]
    assert f"src:{source.id}:2" in job.errors[0]["message"]
    # and nothing changed: the old value stays, record 3 waits, the cursor is kept
    assert [action[2] for action in recorded(acme.company)] == [1, 2]
    assert source.cursor == "2026-02-02T10:00:00Z"


def test_too_many_requests_is_waited_for_as_retry_after_says(acme, server, clock, sleeps):
    # given an API that first answers 429 with "Retry-After: 7", then the records
    records = [record(1), record(2), record(3)]
    server.route(
        "/api/deals",
        json_answer({"message": "slow down"}, status=429, headers={"Retry-After": "7"}),
        paged_json(records, style="next"),
    )
    source = make_source(acme, server)
    # when it runs
    job = run(source)
    # then it waited the 7 seconds asked and recorded everything
    assert sleeps == [7.0]
    assert outcome(job) == (ImportStatus.SUCCEEDED, 3, 3, 0)
    assert len(recorded(acme.company)) == 3
    assert source.cursor == "2026-02-03T10:00:00Z"


def test_a_refused_token_fails_the_run_pauses_the_source_and_tells_the_admins(
    acme, server, clock, sleeps, django_capture_on_commit_callbacks
):
    # given an API that refuses the token
    server.route("/api/deals", Answer(401, b'{"message": "invalid token"}'))
    source = make_source(acme, server)
    # when it runs
    with django_capture_on_commit_callbacks(execute=True):
        job = run(source)
    # then the run failed saying so, without retrying, and recorded nothing
    assert job.status == ImportStatus.FAILED
    assert "Credentials rejected by the source" in job.errors[0]["message"]
    assert len(server.requests) == 1
    assert sleeps == []
    assert recorded(acme.company) == []
    # and the source is paused and its admin told, the token never shown
    assert source.paused_at is not None
    assert source.pause_reason == "credentials rejected by the source"
    assert [message.to for message in mail.outbox] == [["admin@acme.example"]]
    assert "Deals API" in mail.outbox[0].subject
    assert TOKEN not in mail.outbox[0].body
    assert TOKEN not in str(job.errors)
