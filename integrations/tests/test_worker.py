"""Exactly once with a real worker (PRODUCT I3): a worker killed mid-file, then restarted.

A real ``celery worker`` process on the test database and the Redis broker (the production-like
run: ``DATABASE_URL`` and ``REDIS_URL`` set). It is killed with SIGKILL in the middle of a large
import, so its transaction dies with it and the broker never hears back; a new worker is started,
the periodic sweep sends the interrupted job again, and every row ends up recorded exactly once.
The same for a run of an integration source (issue 20), which is an import job too.
"""

import datetime
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Sum

from integrations import services
from integrations.models import ImportJob, ImportStatus
from integrations.progress import progress_key
from integrations.tests.conftest import YESTERDAY
from integrations.tests.files import ACTION_HEADER, csv_bytes, upload
from integrations.tests.fixture_server import csv_answer, server_fixture  # noqa: F401  # the fixture "server"
from orgs.tenancy import company_context
from ratings.models import DailyTotal, KpiAction

ROWS = 40_000

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs the Redis broker: set REDIS_URL"),
]


def _worker() -> subprocess.Popen:
    """A worker process of the app on the test database, taking this test run's queue only."""
    database = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "kpi_platform.settings.base",
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
        ),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
    }
    return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "kpi_platform",
            "worker",
            "--pool",
            "solo",
            "-Q",
            settings.CELERY_TASK_DEFAULT_QUEUE,
            "-l",
            "WARNING",
        ],
        env=env,
        start_new_session=True,  # its own process group, killed as a whole
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _job(company, job_id: int) -> ImportJob:
    with company_context(company.id):
        return ImportJob.objects.get(id=job_id)


def _killed_then_resumed(company, start, *, progress: int) -> tuple[ImportJob, int, ImportJob]:
    """A worker takes the job ``start()`` makes (sent as it commits: the tests run in autocommit)
    and is killed with SIGKILL once the job's progress passes ``progress``; a new worker is started
    and the sweep finds the job stale and sends it again. The job as it was interrupted, the
    actions counted while the worker was dead, and the job finished."""
    worker = _worker()
    try:
        with company_context(company.id):
            job = start()
        _wait(lambda: (cache.get(progress_key(job.id)) or (0, 0))[0] >= progress, 120, "progress")
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    interrupted = _job(company, job.id)
    with company_context(company.id):
        recorded_while_dead = KpiAction.objects.count()
    worker = _worker()
    try:
        later = interrupted.updated_at + datetime.timedelta(seconds=settings.IMPORT_STALE_SECONDS + 1)
        with company_context(company.id):
            assert services.imports_resume_stale(now=later) == [job.id]
        _wait(lambda: _job(company, job.id).is_finished, 180, "the job to finish")
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    return interrupted, recorded_while_dead, _job(company, job.id)


def _assert_recorded_once(
    company, interrupted: ImportJob, recorded_while_dead: int, finished: ImportJob
) -> None:
    """It was running, nothing of it counted meanwhile, and now every row counts exactly once."""
    assert interrupted.status == ImportStatus.RUNNING
    assert recorded_while_dead == 0
    assert (finished.status, finished.attempts) == (ImportStatus.SUCCEEDED, 2), finished.errors
    assert (finished.created, finished.duplicates, finished.total_rows) == (ROWS, 0, ROWS)
    with company_context(company.id):
        assert KpiAction.objects.count() == ROWS
        assert KpiAction.objects.values("external_id").distinct().count() == ROWS
        assert DailyTotal.objects.aggregate(total=Sum("value"))["total"] == Decimal("1.25") * ROWS


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_file_is_replaced_and_every_row_is_recorded_once(acme):
    # given a large file uploaded, and a worker that takes it
    people = [acme.ann.user.email, acme.bob.user.email, acme.admin.user.email]
    rows = [ACTION_HEADER] + [[people[n % 3], "calls", "1.25", YESTERDAY, "", ""] for n in range(ROWS)]

    def start():
        return services.import_job_create(file=upload(csv_bytes(rows), "large.csv"), actor=acme.admin)

    # when the worker is killed in the middle of the file, and a new one takes it again
    outcome = _killed_then_resumed(acme.company, start, progress=5000)
    # then nothing of it counted meanwhile, and now every row counts exactly once
    _assert_recorded_once(acme.company, *outcome)


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_run_of_a_source_is_replaced_and_every_record_counts_once(acme, server):
    # given a sheet of many rows at a URL (127.0.0.1), connected as a source
    people = [acme.ann.user.email, acme.bob.user.email, acme.admin.user.email]
    lines = [f"{people[n % 3]},calls,1.25,{YESTERDAY},D-{n}" for n in range(ROWS)]
    server.route("/sheet.csv", csv_answer("user,kpi,value,occurred_at,deal\n" + "\n".join(lines) + "\n"))
    with company_context(acme.company.id):
        source = services.integration_source_create(
            name="Sheet",
            kind="csv_url",
            settings={"url": server.url("/sheet.csv"), "id_column": "deal"},
            mapping={"person": "user", "kpi": "kpi", "value": "value", "time": "occurred_at"},
        )
    # when the worker is killed in the middle of a run (progress comes a chunk of 10,000 at a
    # time), and a new one takes it again
    outcome = _killed_then_resumed(
        acme.company, lambda: services.integration_source_run_now(source=source), progress=10_000
    )
    # then nothing of it counted meanwhile, and now every record counts exactly once
    _assert_recorded_once(acme.company, *outcome)
    assert len(server.hits("/sheet.csv")) == 2
