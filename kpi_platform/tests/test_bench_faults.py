"""The fault drills (``bench.faults``, issue 8) cannot rot unnoticed: the cut-off client, run against
a live server, closes its requests early and sends them again until each batch is answered, and
every action counts once (R4); the checks of the Redis drill read ``/healthz`` polls and rates
right. The drills themselves, with their figures, are ``make fault-drills``, never a test."""

import random
from collections import Counter

import pytest

from bench.faults import (
    PEOPLE,
    CutTally,
    health_checks,
    make_batches,
    parse_answer,
    post_until_answered,
    rate,
)
from kpis.tests.factories import make_active_kpi
from orgs.services import api_token_create, member_create
from orgs.tenancy import company_context
from ratings.models import KpiAction


@pytest.mark.postgres  # a cut request may still run when its retry arrives: SQLite locks the table
@pytest.mark.django_db(transaction=True)
def test_the_cut_off_client_sends_each_batch_until_answered_and_every_action_counts_once(
    live_server, company
):
    """R4: a request cut off after sending, or mid-answer, and sent again counts once."""
    with company_context(company.id):
        for n in range(PEOPLE):
            member_create(email=f"p{n}@drill-cut.example")
        make_active_kpi(company, integration_name="calls", in_rating=True)
        secret = api_token_create(name="drill", scopes=["read", "actions"]).secret
    batches = make_batches("t", 60, random.Random(1))
    tally, rng = CutTally(), random.Random(2)
    port = int(live_server.url.rsplit(":", 1)[1])

    for batch in batches:
        post_until_answered(port, secret, batch, 0.5, tally, rng)

    assert sum(tally.cut.values()) > 0
    assert set(tally.cut) <= {"sent", "partial"}
    assert tally.requests == len(batches) + sum(tally.cut.values())
    assert set(tally.statuses) <= {200, 201}
    assert (tally.incomplete, tally.refused) == (0, 0)
    assert sorted(tally.acknowledged) == sorted(f"cut-t-{n}" for n in range(60))
    assert tally.created + tally.duplicates == 60
    with company_context(company.id):
        stored = list(KpiAction.objects.values_list("external_id", flat=True))
    assert sorted(stored) == sorted(f"cut-t-{n}" for n in range(60))


def test_batches_hold_each_action_once_with_the_same_content_when_sent_again():
    batches = make_batches("r", 1000, random.Random(3))

    ids = [item["external_id"] for batch in batches for item in batch]
    assert sorted(ids) == sorted(f"cut-r-{n}" for n in range(1000))
    assert {len(batch) for batch in batches} <= set(range(1, 11))
    assert 1 in {len(batch) for batch in batches}
    # a retry must be the same content, or the server answers 409 external_id_conflict
    assert all("occurred_at" in item for batch in batches for item in batch)


def test_an_answer_is_read_whole_or_not_at_all():
    whole = b'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n\r\n{"created": 1}'

    assert parse_answer(whole) == (201, {"created": 1})
    assert parse_answer(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/html\r\n\r\n<p>") == (
        503,
        None,
    )
    assert parse_answer(b"") == (0, None)
    assert parse_answer(b"HTTP/1.") == (0, None)


def test_health_during_the_outage_is_every_poll_inside_it_and_recovery_the_first_200_after():
    down, up = 10.0, 70.0
    polls = [(9.0, 9.1, 200), (9.9, 12.0, 200), (12.0, 14.5, 503), (68.0, 70.5, 503), (71.0, 71.2, 200)]

    checks = health_checks(polls, down, up)

    assert checks["during"] == Counter({503: 1})  # a poll across the edge is neither
    assert checks["all_503_during"]
    assert checks["stayed_healthy"]
    assert checks["healthy_at"] == 71.2
    assert not health_checks([*polls, (80.0, 80.3, 503)], down, up)["stayed_healthy"]
    assert not health_checks([*polls, (30.0, 30.1, 200)], down, up)["all_503_during"]
    assert health_checks([(1.0, 1.1, 200)], down, up) == {
        "during": Counter(),
        "all_503_during": False,
        "healthy_at": None,
        "stayed_healthy": False,
    }


def test_rate_counts_the_posts_answered_201_in_the_window():
    posts = [(0.5, 201), (1.5, 201), (1.6, 0), (2.5, 201), (3.5, 201)]

    assert rate(posts, 1.0, 3.0) == 1.0
    assert rate(posts, 0.0, 4.0) == 1.0
