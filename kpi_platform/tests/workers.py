"""A real Celery worker for tests that send tasks through the broker."""

from collections.abc import Iterator
from contextlib import contextmanager

from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django import db

from kpi_platform.celery import app


@contextmanager
def real_worker() -> Iterator[None]:
    """A worker thread on the configured broker (filesystem folder, or Redis in CI's second run),
    for a test on ``transactional_db``: the task reads what the test committed."""
    # A real worker's Django fixup closes its connections after each task; this thread has none.
    task_postrun.connect(_close_worker_connections)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10, loglevel="ERROR"):
            yield
    finally:
        task_postrun.disconnect(_close_worker_connections)


def _close_worker_connections(**kwargs) -> None:
    db.connections.close_all()
