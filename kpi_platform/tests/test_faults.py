"""Faults (issue 8): Redis stopped and back, a message that cannot be sent, the database out of reach.

The database is the source of truth; Redis holds the broker's queue, the API's rate counters and
the progress of running imports. With Redis stopped the API still records actions, ``/healthz``
says the broker is down (503), an upload is refused with a clear 503 and nothing stored (a job no
worker can hear of would sit "queued" unexplained), and when Redis returns nothing was lost and
uploads are queued again. Redis here is a private ``redis-server`` on a unix socket this test
starts and stops, never the shared one. A worker killed mid-import is ``integrations/tests/
test_worker.py``; PostgreSQL restarted under load is ``bench/faults_pg_restart.py`` (not in CI).
"""

import datetime
import threading
import time
from contextlib import contextmanager
from decimal import Decimal
from unittest import mock

import pytest
from django.conf import settings as django_settings
from django.db import OperationalError, connection
from django.test import Client
from kombu import pools
from kombu.exceptions import OperationalError as BrokerError
from rest_framework.test import APIClient

from bench._stack import REDIS_SERVER, PrivateRedis
from integrations import services as imports
from integrations.models import ImportJob, ImportStatus
from integrations.tests.conftest import YESTERDAY
from integrations.tests.files import ACTION_HEADER, csv_bytes, upload
from kpi_platform.celery import app
from kpis.tests.factories import make_active_kpi
from orgs.models import Role
from orgs.tenancy import company_context
from ratings.models import KpiAction, RatingTotal

ACTIONS = "/api/v1/actions/"
IMPORTS = "/api/v1/imports/"


def _action(external_id: str) -> dict:
    return {
        "kpi": "calls",
        "user": "ann@acme.example",
        "value": "2",
        "occurred_at": f"{YESTERDAY}T10:00:00+03:00",
        "external_id": external_id,
    }


def _file() -> bytes:
    return csv_bytes([ACTION_HEADER, ["ann@acme.example", "calls", "5", YESTERDAY, "file-1", ""]])


@pytest.fixture
def acme(company, make_member):
    make_member(company, Role.ADMIN, email="admin@acme.example")
    make_member(company, email="ann@acme.example")
    with company_context(company.id):
        make_active_kpi(company, integration_name="calls", in_rating=True)
    return company


def _actions(company) -> list[str]:
    with company_context(company.id):
        return sorted(KpiAction.objects.values_list("external_id", flat=True))


# --- Redis: a private server, stopped and started again -------------------------------------------


def _reset_broker_pools() -> None:
    # kombu keeps its pools in a registry of its own, by connection: empty it along with the app's.
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def _broker(url: str):
    """Celery's broker switched to ``url`` (its connection pools too), then back."""
    saved = app.conf.broker_url, app.conf.broker_transport_options
    app.conf.broker_url, app.conf.broker_transport_options = url, {}
    _reset_broker_pools()
    try:
        yield
    finally:
        app.conf.broker_url, app.conf.broker_transport_options = saved
        _reset_broker_pools()


@pytest.fixture
def private_redis(settings):
    """The cache and the broker on a private Redis (``REDIS_URL``'s two uses, settings/base.py)."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = PrivateRedis()
    server.start()
    try:
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": f"unix://{server.socket}?db=0",
            }
        }
        with _broker(f"redis+socket://{server.socket}"):
            yield server
    finally:
        server.remove()


def test_with_redis_stopped_actions_are_recorded_and_uploads_refused_then_nothing_is_lost(
    acme, private_redis, token_client, django_capture_on_commit_callbacks
):
    client = token_client(acme, scopes=("read", "actions"))
    assert Client().get("/healthz").json() == {"status": "ok", "database": "ok", "broker": "ok"}
    assert client.post(ACTIONS, _action("before"), format="json").status_code == 201

    # when Redis stops
    private_redis.stop()
    started = time.monotonic()
    recorded = client.post(ACTIONS, [_action("during-1"), _action("during-2")], format="json")
    health = Client().get("/healthz")
    rating = client.get("/api/v1/ratings/?period=all")
    with django_capture_on_commit_callbacks(execute=True):
        refused = client.post(IMPORTS, {"file": upload(_file(), "a.csv")}, format="multipart")
    elapsed = time.monotonic() - started

    # then the API records and reads from the database, and says plainly what is down
    assert recorded.status_code == 201, recorded.content
    assert recorded.json()["created"] == 2
    assert (health.status_code, health.json()) == (
        503,
        {"status": "error", "database": "ok", "broker": "error"},
    )
    assert rating.status_code == 200
    assert rating.json()["results"][0]["points"] == "6.00"
    assert (refused.status_code, refused["Retry-After"]) == (503, "60")
    assert refused.json() == {
        "errors": [
            {
                "code": "queue_unavailable",
                "field": None,
                "message": "Imports are paused: the background queue cannot be reached. "
                "Nothing was stored; try again in a few minutes.",
                "index": None,
            }
        ]
    }
    with company_context(acme.id):
        assert not ImportJob.objects.exists()
    assert elapsed < 15  # no request hung on the missing server

    # when Redis is back
    private_redis.start()
    with django_capture_on_commit_callbacks(execute=True):
        accepted = client.post(IMPORTS, {"file": upload(_file(), "a.csv")}, format="multipart")

    # then the broker is healthy, the upload's job is on the queue for a worker, and it runs
    assert Client().get("/healthz").status_code == 200
    assert accepted.status_code == 202, accepted.content
    assert private_redis.client().llen(app.conf.task_default_queue) == 1
    with company_context(acme.id):
        job = imports.import_job_run(job_id=accepted.json()["id"])
    assert (job.status, job.created) == (ImportStatus.SUCCEEDED, 1), job.errors
    # and every action acknowledged while Redis was down is there, once
    assert _actions(acme) == ["before", "during-1", "during-2", "file-1"]


def test_an_import_running_while_redis_stops_finishes_without_its_progress(acme, private_redis, token_client):
    """The progress bar is a courtesy of the cache: losing it loses no row (I3)."""
    client = token_client(acme, scopes=("read", "actions"))
    with company_context(acme.id), mock.patch("integrations.services._enqueue_on_commit"):
        job = imports.import_job_create(file=upload(_file(), "a.csv"))
        ImportJob.objects.filter(id=job.id).update(status=ImportStatus.RUNNING)

    # when Redis stops while the job runs
    private_redis.stop()
    polled = client.get(f"{IMPORTS}{job.id}/")
    with company_context(acme.id):
        job = imports.import_job_run(job_id=job.id)

    # then the job could be followed (without its live progress) and recorded every row
    assert polled.status_code == 200, polled.content
    assert (polled.json()["status"], polled.json()["processed_rows"]) == ("running", 0)
    assert (job.status, job.created) == (ImportStatus.SUCCEEDED, 1), job.errors
    assert _actions(acme) == ["file-1"]


# --- A message that cannot be sent after the upload committed -------------------------------------


def test_an_upload_whose_message_is_lost_stays_queued_and_the_sweep_sends_it(
    acme, token_client, django_capture_on_commit_callbacks
):
    # given the broker answers the upload's check, then fails to take its message
    client = token_client(acme, scopes=("read", "actions"))
    with (
        mock.patch("integrations.tasks.import_job_run.delay", side_effect=BrokerError("gone")),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(IMPORTS, {"file": upload(_file(), "a.csv")}, format="multipart")

    # then the upload is answered as queued (it is stored), not with a 500
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    assert client.get(f"{IMPORTS}{job_id}/").json()["status"] == "queued"

    # and the sweep sends it once it is stale, and it runs
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(
        seconds=django_settings.IMPORT_STALE_SECONDS + 1
    )
    with (
        company_context(acme.id),
        mock.patch("integrations.tasks.import_job_run.delay") as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert imports.imports_resume_stale(now=later) == [job_id]
    send.assert_called_once_with(job_id=job_id)


# --- Duplicate delivery: a client's retry arriving with the first attempt still running ------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_batch_delivered_twice_at_once_through_the_api_counts_once(acme, token_client):
    """R4 through the whole request (token, transaction, recording). One after the other is
    ratings/tests/test_api.py; here both copies are in flight together, on PostgreSQL."""
    first = token_client(acme, scopes=("read", "actions"))
    second = APIClient()
    second.credentials(**first._credentials)
    batch = [_action(f"dup-{n}") for n in range(50)]
    barrier = threading.Barrier(2)
    answers: list = [None, None]

    def deliver(position: int, client) -> None:
        try:
            barrier.wait(timeout=10)
            answers[position] = client.post(ACTIONS, batch, format="json")
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(n, client)) for n, client in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    late = first.post(ACTIONS, batch, format="json")  # and a third copy, after both

    assert [answer.status_code for answer in answers] == [201, 201]
    assert sorted((a.json()["created"], a.json()["duplicates"]) for a in answers) == [(0, 50), (50, 0)]
    assert (late.json()["created"], late.json()["duplicates"]) == (0, 50)
    assert _actions(acme) == sorted(f"dup-{n}" for n in range(50))
    with company_context(acme.id):
        assert RatingTotal.objects.get(period="all").points == Decimal("100.00")


# --- The database out of reach --------------------------------------------------------------------


@pytest.mark.parametrize("error", [OperationalError("connection refused"), OperationalError("server closed")])
def test_with_the_database_out_of_reach_the_api_answers_503_in_its_error_format(acme, token_client, error):
    client = token_client(acme, scopes=("read", "actions"))
    client.raise_request_exception = False
    with mock.patch("ratings.api.views.actions_record", side_effect=error):
        response = client.post(ACTIONS, _action("x"), format="json")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json() == {
        "errors": [
            {
                "code": "service_unavailable",
                "field": None,
                "message": "The service is briefly unavailable: try again in a moment.",
                "index": None,
            }
        ]
    }
    assert _actions(acme) == []


def test_with_the_database_out_of_reach_a_page_answers_503_without_a_traceback(admin_member):
    browser = Client(raise_request_exception=False)
    browser.force_login(admin_member.user)
    with mock.patch("orgs.middleware.company_context", side_effect=OperationalError("connection refused")):
        response = browser.get("/")

    assert response.status_code == 503
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode() == "The service is briefly unavailable: try again in a moment."


def test_any_other_error_is_still_a_500(acme, token_client):
    client = token_client(acme, scopes=("read", "actions"))
    client.raise_request_exception = False
    with mock.patch("ratings.api.views.actions_record", side_effect=RuntimeError("a bug")):
        assert client.post(ACTIONS, _action("x"), format="json").status_code == 500
