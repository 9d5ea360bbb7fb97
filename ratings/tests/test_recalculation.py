"""R2: recalculating a KPI's past points in the background, with progress, through the API."""

import threading
from decimal import Decimal

import pytest
from celery.signals import task_postrun

from kpi_platform.celery import app
from kpi_platform.tests.workers import real_worker
from kpis import services as kpi_services
from kpis.tests.factories import make_active_kpi
from orgs.models import Role
from orgs.tenancy import company_context
from ratings import services
from ratings.models import DailyTotal, KpiAction, RatingTotal, Recalculation

NOT_REBUILT = "the aggregates differ from a rebuild"


@pytest.fixture
def setup(company, make_member):
    """Acme with two people and ``calls`` (5 calls = 1 point), 7 actions recorded, one voided;
    then the ratio changes to 2 calls = 1 point."""
    admin = make_member(company, Role.ADMIN, email="admin@acme.example")
    ann = make_member(company, email="ann@acme.example")
    make_member(company, email="bob@acme.example")
    with company_context(company.id):
        calls = make_active_kpi(
            company, integration_name="calls", in_rating=True, rating_units="5", rating_points=1
        )
        services.actions_record(
            items=[
                {
                    "kpi": "calls",
                    "user": user,
                    "value": str(value),
                    "occurred_at": f"2026-11-0{day}T10:00:00+03:00",
                }
                for day, value, user in [
                    (1, 3, "ann@acme.example"),
                    (2, 4, "bob@acme.example"),
                    (3, 5, "ann@acme.example"),
                    (4, 10, "bob@acme.example"),
                    (5, 1, "ann@acme.example"),
                    (6, 7, "bob@acme.example"),
                    (7, 2, "ann@acme.example"),
                ]
            ]
        )
        services.action_void(action=KpiAction.objects.order_by("id").first(), reason="wrong")
        kpi_services.kpi_update(kpi=calls, rating_units="2")
    return type("Setup", (), {"company": company, "admin": admin, "ann": ann, "calls": calls})


def aggregates() -> tuple[list, list]:
    """The totals, without the rows a void emptied (kept at zero; a rebuild writes none)."""
    daily = DailyTotal.objects.exclude(actions=0, value=0, points=0)
    rating = RatingTotal.objects.exclude(points=0)
    return (
        sorted(daily.values_list("member_id", "kpi_id", "day", "value", "points", "actions")),
        sorted(rating.values_list("member_id", "period", "start", "points")),
    )


def assert_equal_to_a_rebuild() -> None:
    kept = aggregates()
    services.aggregates_rebuild()
    assert aggregates() == kept, NOT_REBUILT


def test_a_chunked_recalculation_reports_progress_and_stays_exact(setup):
    with company_context(setup.company.id):
        seen = []
        # when it runs two actions at a time
        changed = services.kpi_points_recalculate(
            kpi=setup.calls, chunk_size=2, progress=lambda done, total: seen.append((done, total))
        )
        # then it reported each chunk, changed every action (voided ones too) and the totals agree
        assert seen == [(0, 7), (2, 7), (4, 7), (6, 7), (7, 7)]
        assert changed == 7
        assert sorted(KpiAction.objects.values_list("points", flat=True)) == [
            Decimal(p) for p in ("0.50", "1.00", "1.50", "2.00", "2.50", "3.50", "5.00")
        ]
        ann_month = RatingTotal.objects.get(period="month", member_id=setup.ann.user_id).points
        assert ann_month == Decimal("2.50") + Decimal("0.50") + Decimal("1.00")  # the voided 3 calls left out
        assert_equal_to_a_rebuild()
        assert setup.calls.changes.filter(action="recalculated").count() == 1


@pytest.fixture
def eager(settings):
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def test_an_admin_starts_a_recalculation_and_follows_it(
    setup, client_for, eager, django_capture_on_commit_callbacks
):
    client = client_for(setup.admin)
    # when the admin asks for a recalculation (the task runs when the request's transaction commits)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/v1/kpis/{setup.calls.id}/recalculate/")
    # then it was queued, and its url shows it done
    assert response.status_code == 202, response.content
    body = response.json()
    with company_context(setup.company.id):
        recalculation = Recalculation.objects.get()
    assert body == {
        "id": recalculation.id,
        "status": "queued",
        "url": f"http://testserver/api/v1/recalculations/{recalculation.id}/",
    }
    progress = client.get(body["url"])
    assert progress.status_code == 200
    assert progress.json() == {
        "id": recalculation.id,
        "kpi": setup.calls.id,
        "status": "succeeded",
        "total": 7,
        "done": 7,
        "error": "",
    }
    with company_context(setup.company.id):
        assert recalculation.requested_by_id == setup.admin.user_id
        assert KpiAction.objects.filter(points=Decimal("5.00")).count() == 1  # 10 calls at 2 = 1
        assert_equal_to_a_rebuild()


def test_a_failed_recalculation_says_why(
    setup, client_for, eager, django_capture_on_commit_callbacks, monkeypatch
):
    def broken(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr("ratings.services.recalculation.kpi_points_recalculate", broken)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(setup.admin).post(f"/api/v1/kpis/{setup.calls.id}/recalculate/")
    assert response.status_code == 202
    with company_context(setup.company.id):
        recalculation = Recalculation.objects.get()
    assert (recalculation.status, recalculation.error) == ("failed", "the database went away")


def test_who_may_recalculate(setup, client_for, token_client, make_member, other_company, assert_isolated):
    member = make_member(setup.company, email="cid@acme.example")
    url = f"/api/v1/kpis/{setup.calls.id}/recalculate/"
    assert client_for(member).post(url).status_code == 403
    assert token_client(setup.company, scopes=["read"]).post(url).status_code == 403
    definitions = token_client(setup.company, scopes=["read", "definitions"])
    started = definitions.post(url)
    assert started.status_code == 202
    assert definitions.get(started.json()["url"]).json()["status"] == "queued"  # no worker in this test
    assert client_for(member).get(started.json()["url"]).status_code == 403
    # another company sees neither the KPI nor the recalculation
    other = token_client(other_company, scopes=["read", "definitions"])
    assert_isolated(other.post(url))
    assert_isolated(other.get(started.json()["url"]))


@pytest.fixture
def worker(transactional_db):
    """A real worker thread on the configured broker."""
    with real_worker():
        yield


def test_a_worker_runs_the_recalculation_in_the_kpis_company(setup, client_for, worker):
    done = threading.Event()

    def finished(sender=None, **kwargs):
        if sender is not None and sender.name == "ratings.tasks.kpi_points_recalculate":
            done.set()

    task_postrun.connect(finished, weak=False)
    try:
        response = client_for(setup.admin).post(f"/api/v1/kpis/{setup.calls.id}/recalculate/")
        assert response.status_code == 202
        assert done.wait(timeout=30), "the worker did not run the recalculation"
    finally:
        task_postrun.disconnect(finished)
    assert client_for(setup.admin).get(response.json()["url"]).json()["status"] == "succeeded"
    with company_context(setup.company.id):
        assert_equal_to_a_rebuild()
