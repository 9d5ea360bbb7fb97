"""Celery tasks run inside the company they were sent from (O2, STYLE section 2)."""

import threading
from unittest import mock

import pytest

from kpi_platform.celery import COMPANY_HEADER, GlobalTask, app
from kpi_platform.tests.workers import real_worker
from orgs.models import Department
from orgs.tenancy import NoCompanyInContext, company_context, current_company_id_or_none
from orgs.tests.factories import DepartmentFactory

seen: list[tuple[int | None, list[str]]] = []
seen_event = threading.Event()


@app.task(name="tests.department_names")
def department_names() -> None:
    seen.append((current_company_id_or_none(), sorted(Department.objects.values_list("name", flat=True))))
    seen_event.set()


@app.task(name="tests.global_probe", base=GlobalTask)
def global_probe() -> None:
    seen.append((current_company_id_or_none(), []))
    seen_event.set()


def test_sending_a_company_task_outside_a_company_raises(db):
    with mock.patch.object(app, "send_task") as send_task, pytest.raises(NoCompanyInContext):
        department_names.delay()
    send_task.assert_not_called()


def test_sending_a_company_task_puts_the_company_in_the_message_headers(in_company):
    with mock.patch.object(app, "send_task") as send_task:
        department_names.apply_async(headers={"other": "kept"})
    headers = send_task.call_args.kwargs["headers"]
    assert headers == {"other": "kept", COMPANY_HEADER: in_company.id}


def test_a_global_task_needs_no_company(db):
    with mock.patch.object(app, "send_task") as send_task:
        global_probe.delay()
    assert COMPANY_HEADER not in (send_task.call_args.kwargs.get("headers") or {})


@pytest.fixture
def worker(transactional_db):
    """A real worker thread on the configured broker (filesystem folder, or Redis in CI's second run)."""
    seen.clear()
    seen_event.clear()
    with real_worker():
        yield


def test_a_worker_runs_the_task_in_the_senders_company_only(company, other_company, worker):
    # given a department in each company
    with company_context(company.id):
        DepartmentFactory(name="Acme sales")
    with company_context(other_company.id):
        DepartmentFactory(name="Globex sales")
    # when company A sends the task through the broker
    with company_context(company.id):
        department_names.delay()
    # then the worker ran it as company A and saw only A's rows
    assert seen_event.wait(timeout=30), "the worker did not run the task"
    assert seen == [(company.id, ["Acme sales"])]
    assert current_company_id_or_none() is None
