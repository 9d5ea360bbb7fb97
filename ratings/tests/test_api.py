"""The actions and ratings API (API.md "Actions" and "Ratings"; PRODUCT R1–R7, O2, O4)."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kpis.models import Kpi
from kpis.tests.factories import make_active_kpi, make_kpi
from orgs.models import Role
from orgs.tenancy import company_context
from ratings import services
from ratings.models import KpiAction
from ratings.selectors import Scope, leaderboard

ACTIONS = "/api/v1/actions/"
RATINGS = "/api/v1/ratings/"


class AnyText:
    """A message: translated text, so the tests pin everything but its wording."""

    def __eq__(self, other) -> bool:
        return isinstance(other, str) and bool(other)

    def __repr__(self) -> str:
        return "<any text>"


def error(code: str, field: str | None = None, index: int | None = None) -> dict:
    return {"code": code, "field": field, "message": AnyText(), "index": index}


@pytest.fixture
def org(company, make_member):
    """Acme: Sales (teams Alpha and Beta, a manager, Alpha's lead) and Support (team Helpdesk)."""
    from orgs.services import department_create, department_set_managers, team_create, team_set_leads

    with company_context(company.id):
        sales = department_create(name="Sales")
        support = department_create(name="Support")
        alpha = team_create(name="Alpha", department=sales)
        beta = team_create(name="Beta", department=sales)
        helpdesk = team_create(name="Helpdesk", department=support)
    people = {
        "admin": make_member(company, Role.ADMIN, email="admin@acme.example"),
        "manager": make_member(company, Role.MANAGER, email="manager@acme.example", team=alpha),
        "lead": make_member(company, Role.LEAD, email="lead@acme.example", team=alpha),
        "ann": make_member(company, email="ann@acme.example", team=alpha, external_id="e-ann"),
        "bob": make_member(company, email="bob@acme.example", team=alpha),
        "cid": make_member(company, email="cid@acme.example", team=beta),
        "eve": make_member(company, email="eve@acme.example", team=helpdesk),
    }
    with company_context(company.id):
        department_set_managers(department=sales, managers=[people["manager"]])
        team_set_leads(team=alpha, leads=[people["lead"]])
        calls = make_active_kpi(
            company, integration_name="calls", in_rating=True, rating_units="5", rating_points=1
        )
        deals = make_active_kpi(
            company, integration_name="deals", in_rating=True, rating_units="1", rating_points=10
        )
        notes = make_kpi(integration_name="notes")  # hidden
        beta_only = make_active_kpi(company, integration_name="beta_calls", level="team", team=beta)
    return type(
        "Org",
        (),
        {
            "company": company,
            "sales": sales,
            "support": support,
            "alpha": alpha,
            "beta": beta,
            "helpdesk": helpdesk,
            "calls": calls,
            "deals": deals,
            "notes": notes,
            "beta_only": beta_only,
            **people,
        },
    )


def item(user="ann@acme.example", kpi="calls", value="10", **extra) -> dict:
    return {"kpi": kpi, "user": user, "value": value, "occurred_at": "2026-11-02T10:00:00+03:00", **extra}


def action_count(company) -> int:
    with company_context(company.id):
        return KpiAction.objects.count()


@pytest.fixture
def actions_client(org, token_client):
    return token_client(org.company, scopes=["read", "actions"])


# --- Recording: POST /api/v1/actions/ ------------------------------------------------------------------


def test_one_action_is_recorded_with_a_null_index_and_points_as_text(org, actions_client):
    # when one object is posted
    response = actions_client.post(ACTIONS, item(value="12", external_id="crm-1"), format="json")
    # then it is recorded, 12 calls at 5 calls = 1 point
    assert response.status_code == 201, response.content
    with company_context(org.company.id):
        action = KpiAction.objects.get()
    assert response.json() == {
        "created": 1,
        "duplicates": 0,
        "results": [
            {"index": None, "id": action.id, "external_id": "crm-1", "points": "2.40", "status": "created"}
        ],
    }
    assert action.source == "api"
    assert action.recorded_by_id is None


def test_a_batch_answers_every_item_by_its_index(org, actions_client):
    response = actions_client.post(
        ACTIONS, [item(value="5"), item(user="e-ann", kpi="deals", value="1.25")], format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["created"], body["duplicates"]) == (2, 0)
    assert [(r["index"], r["points"], r["status"], r["external_id"]) for r in body["results"]] == [
        (0, "1.00", "created", None),
        (1, "12.50", "created", None),
    ]


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ({"kpi": "nope"}, error("unknown_kpi", "kpi", 1)),
        ({"kpi": "notes"}, error("kpi_inactive", "kpi", 1)),
        ({"user": "nobody@acme.example"}, error("unknown_user", "user", 1)),
        ({"kpi": "beta_calls"}, error("not_in_audience", "user", 1)),
        ({"value": "-1"}, error("value_invalid", "value", 1)),
        ({"value": "ten"}, error("value_invalid", "value", 1)),
        ({"value": "1.005"}, error("value_invalid", "value", 1)),
        ({"occurred_at": "yesterday"}, error("occurred_at_invalid", "occurred_at", 1)),
    ],
)
def test_a_batch_with_one_bad_item_records_nothing(org, actions_client, bad, expected):
    # given a batch whose second item is wrong
    before = action_count(org.company)
    # when it is posted
    response = actions_client.post(ACTIONS, [item(), {**item(), **bad}], format="json")
    # then the answer names the item and nothing is recorded
    assert response.status_code == 400, response.content
    assert response.json() == {"errors": [expected]}
    assert action_count(org.company) == before


def test_a_single_bad_object_has_a_null_index(org, actions_client):
    response = actions_client.post(ACTIONS, item(value="-1"), format="json")
    assert response.status_code == 400
    assert response.json() == {"errors": [error("value_invalid", "value", None)]}


def test_every_bad_item_of_a_batch_is_reported(org, actions_client):
    response = actions_client.post(
        ACTIONS, [item(kpi="nope"), item(), item(value="x", user="nobody")], format="json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            error("unknown_kpi", "kpi", 0),
            error("value_invalid", "value", 2),
            error("unknown_user", "user", 2),
        ]
    }


def test_a_batch_of_more_than_5000_is_refused_whole(org, actions_client):
    response = actions_client.post(ACTIONS, [item()] * 5001, format="json")
    assert response.status_code == 400
    assert response.json() == {"errors": [error("batch_too_large")]}
    assert action_count(org.company) == 0


def test_an_external_id_with_other_content_is_a_conflict(org, actions_client):
    # given an action recorded with an external id
    actions_client.post(ACTIONS, item(external_id="crm-7"), format="json")
    # when the same id comes with another value
    response = actions_client.post(ACTIONS, [item(), item(external_id="crm-7", value="11")], format="json")
    # then 409, and the batch's other item is not recorded either
    assert response.status_code == 409
    assert response.json() == {"errors": [error("external_id_conflict", "external_id", 1)]}
    assert action_count(org.company) == 1


def test_the_same_batch_posted_twice_counts_once(org, actions_client):
    batch = [item(external_id=f"crm-{n}", value=str(n)) for n in range(1, 4)]
    first = actions_client.post(ACTIONS, batch, format="json").json()
    # when the client sends it again (a retry)
    second = actions_client.post(ACTIONS, batch, format="json")
    # then nothing new is recorded and every item is a duplicate of the first one
    assert second.status_code == 201
    body = second.json()
    assert (body["created"], body["duplicates"]) == (0, 3)
    assert [r["status"] for r in body["results"]] == ["duplicate"] * 3
    assert [r["id"] for r in body["results"]] == [r["id"] for r in first["results"]]
    assert action_count(org.company) == 3


def test_a_token_needs_the_actions_scope_and_a_request_needs_a_token(org, token_client, api_client):
    read_only = token_client(org.company, scopes=["read"])
    assert read_only.post(ACTIONS, item(), format="json").status_code == 403
    assert api_client.post(ACTIONS, item(), format="json").status_code == 401
    assert api_client.get(ACTIONS).status_code == 401
    assert action_count(org.company) == 0


def test_a_member_may_not_record(org, client_for):
    response = client_for(org.ann).post(ACTIONS, item(), format="json")
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "permission_denied"


@pytest.mark.parametrize(
    ("who", "allowed", "refused"),
    [
        ("lead", ["ann@acme.example", "e-ann", "bob@acme.example"], ["cid@acme.example", "eve@acme.example"]),
        ("manager", ["ann@acme.example", "cid@acme.example"], ["eve@acme.example", "admin@acme.example"]),
        ("admin", ["ann@acme.example", "cid@acme.example", "eve@acme.example"], []),
    ],
)
def test_people_record_for_those_they_manage_only(org, client_for, who, allowed, refused):
    client = client_for(getattr(org, who))
    # when the batch holds people out of reach, it is refused as if they did not exist
    if refused:
        response = client.post(ACTIONS, [item(user=user) for user in allowed + refused], format="json")
        assert response.status_code == 400
        assert response.json() == {
            "errors": [error("unknown_user", "user", len(allowed) + n) for n in range(len(refused))]
        }
        assert action_count(org.company) == 0
    # and people within reach are recorded, with who recorded them
    response = client.post(ACTIONS, [item(user=user) for user in allowed], format="json")
    assert response.status_code == 201, response.content
    with company_context(org.company.id):
        assert set(KpiAction.objects.values_list("recorded_by_id", flat=True)) == {getattr(org, who).user_id}


def test_a_lead_learns_nothing_about_people_out_of_reach(org, client_for):
    # cid is not in the lead's team and does not receive beta_calls' neighbour... an unknown person and
    # a person out of reach answer the same code, even where the service would say not_in_audience
    response = client_for(org.lead).post(
        ACTIONS,
        [item(user="eve@acme.example", kpi="beta_calls"), item(user="ghost@acme.example")],
        format="json",
    )
    assert response.json() == {"errors": [error("unknown_user", "user", 0), error("unknown_user", "user", 1)]}


def test_another_companys_people_and_kpis_are_unknown(org, other_company, make_member, actions_client):
    make_member(other_company, email="zed@globex.example")
    with company_context(other_company.id):
        make_active_kpi(other_company, integration_name="globex_calls", in_rating=True)
    response = actions_client.post(
        ACTIONS, [item(user="zed@globex.example"), item(kpi="globex_calls")], format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"errors": [error("unknown_user", "user", 0), error("unknown_kpi", "kpi", 1)]}


# --- Recording and voiding for oneself (O5, issue 17) ----------------------------------------------------


@pytest.mark.parametrize("who", ["lead", "manager"])
def test_heads_neither_record_nor_void_for_themselves(org, client_for, who):
    """O5, issue 17: a head records and voids for the people they manage, not for themselves (the
    recording service took its people from ``visible_members``, which includes the caller)."""
    head = getattr(org, who)
    client = client_for(head)
    # when the head records points for themselves, by e-mail
    response = client.post(ACTIONS, item(user=head.user.email, value="999999"), format="json")
    # then it is refused, saying why, and nothing is recorded
    assert response.status_code == 400, response.content
    assert response.json() == {"errors": [error("unknown_user", "user")]}
    assert "yourself" in response.json()["errors"][0]["message"]
    assert action_count(org.company) == 0
    # and an action recorded for them by someone else is not theirs to void
    own = record(org, [item(user=head.user.email)], recorded_by=org.admin).results[0]["id"]
    voided = client.post(f"{ACTIONS}{own}/void/", {"reason": "mine"}, format="json")
    assert voided.status_code == 403, voided.content
    assert voided.json() == {"errors": [error("permission_denied")]}
    with company_context(org.company.id):
        assert KpiAction.objects.get(id=own).voided_at is None


def test_company_admins_and_tokens_record_and_void_for_anyone_themselves_included(
    org, client_for, actions_client
):
    """O5, issue 17: a company admin and a company token keep recording for anyone."""
    admin = client_for(org.admin)
    response = admin.post(ACTIONS, item(user="admin@acme.example"), format="json")
    assert response.status_code == 201, response.content
    action_id = response.json()["results"][0]["id"]
    assert admin.post(f"{ACTIONS}{action_id}/void/", {"reason": "x"}, format="json").status_code == 200
    by_token = actions_client.post(ACTIONS, item(user="lead@acme.example"), format="json")
    assert by_token.status_code == 201, by_token.content


def test_with_self_reporting_people_record_and_void_their_own_results(org, client_for):
    """O5, O7, issue 17: a company that allows self-reporting lets everyone record and void their
    own results; the people they do not manage stay out of reach."""
    from orgs.services import company_update

    company_update(company=org.company, self_reporting=True)
    ann, lead = client_for(org.ann), client_for(org.lead)
    mine = ann.post(ACTIONS, item(user="ann@acme.example"), format="json")
    assert mine.status_code == 201, mine.content
    assert ann.post(ACTIONS, item(user="bob@acme.example"), format="json").json() == {
        "errors": [error("unknown_user", "user")]
    }
    assert lead.post(ACTIONS, item(user="lead@acme.example"), format="json").status_code == 201
    action_id = mine.json()["results"][0]["id"]
    assert ann.post(f"{ACTIONS}{action_id}/void/", {"reason": "typo"}, format="json").status_code == 200


# --- Points that fit (R2, issue 17) -------------------------------------------------------------------


def test_an_action_whose_points_would_not_fit_is_refused_not_a_500(org, actions_client):
    """R2, issue 17: points beyond what an action may give (999,999,999,999.99) answer
    ``value_invalid`` with the item's index, for a KPI saved before ratios were bounded too, and
    nothing is recorded (on PostgreSQL the points column overflowed: a 500)."""
    with company_context(org.company.id):
        Kpi.objects.filter(id=org.deals.id).update(rating_units=Decimal("0.01"), rating_points=2147483647)
    response = actions_client.post(
        ACTIONS,
        [item(value="1"), item(kpi="deals", value="10"), item(kpi="deals", value="0.01")],
        format="json",
    )
    assert response.status_code == 400, response.content
    assert response.json() == {"errors": [error("value_invalid", "value", 1)]}
    assert "999,999,999,999.99" in response.json()["errors"][0]["message"]
    assert action_count(org.company) == 0


@pytest.mark.postgres
def test_a_total_that_would_overflow_is_refused_not_a_500(org, actions_client):
    """R2, R6, issue 17: a person's period total keeps its rank in a bigint of cents (about
    9.2 × 10^16 points); a batch that would take it past is ``value_invalid``, and nothing is
    recorded (a 500 before)."""
    from ratings.models import RatingTotal

    # given ann's all-time total near the largest the rank's bigint holds
    record(org, [item(kpi="deals", value="1")])
    with company_context(org.company.id):
        RatingTotal.objects.filter(member=org.ann, period="all").update(points=Decimal("92233720368000000"))
    # when a batch adds the points of one of the largest actions
    response = actions_client.post(ACTIONS, item(kpi="deals", value="99999999999.99"), format="json")
    # then it is refused, and nothing is recorded
    assert response.status_code == 400, response.content
    assert response.json() == {"errors": [error("value_invalid", "value")]}
    assert action_count(org.company) == 1


# --- Listing: GET /api/v1/actions/ ----------------------------------------------------------------------


def record(org, items, **kwargs):
    with company_context(org.company.id):
        return services.actions_record(items=items, **kwargs)


def test_an_action_is_listed_in_the_documented_shape(org, actions_client, client_for):
    result = record(org, [item(external_id="crm-1", comment="first call")], recorded_by=org.admin)
    response = actions_client.get(ACTIONS)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"next", "previous", "results"}
    assert body["results"] == [
        {
            "id": result.results[0]["id"],
            "kpi": "calls",
            "user": {"id": org.ann.user_id, "email": "ann@acme.example"},
            "value": "10.00",
            "points": "2.00",
            "occurred_at": "2026-11-02T07:00:00Z",  # times are answered in UTC, like every API
            "source": "api",
            "external_id": "crm-1",
            "comment": "first call",
            "voided": False,
            "voided_at": None,
            "void_reason": "",
            "recorded_by": org.admin.user_id,
        }
    ]


def test_the_list_filters_by_kpi_user_time_and_source(org, actions_client):
    record(
        org,
        [
            item(),
            item(kpi="deals", value="1"),
            item(user="cid@acme.example", occurred_at="2026-11-05T09:00:00+03:00"),
        ],
    )
    record(org, [item(user="bob@acme.example")], source="import")

    def ids(query: str) -> list[str]:
        response = actions_client.get(ACTIONS + query)
        assert response.status_code == 200, response.content
        return [(r["kpi"], r["user"]["email"]) for r in response.json()["results"]]

    assert len(ids("?kpi=calls")) == 3
    assert ids(f"?kpi={org.deals.id}") == [("deals", "ann@acme.example")]
    assert len(ids("?user=ann@acme.example")) == 2
    assert len(ids("?user=e-ann")) == 2
    assert ids(f"?user={org.cid.user_id}") == [("calls", "cid@acme.example")]
    assert ids("?from=2026-11-03") == [("calls", "cid@acme.example")]
    assert ids("?from=2026-11-05T09:00:00%2B03:00") == [("calls", "cid@acme.example")]
    assert len(ids("?to=2026-11-02")) == 3  # a date includes its whole local day
    assert ids("?source=import") == [("calls", "bob@acme.example")]
    assert ids("?kpi=nope") == []
    bad = actions_client.get(ACTIONS + "?from=someday")
    assert bad.status_code == 400
    assert bad.json() == {"errors": [error("invalid", "from")]}


def test_the_list_pages_with_a_cursor(org, actions_client):
    record(org, [item(value=str(n), occurred_at=f"2026-11-0{n}T10:00:00+03:00") for n in range(1, 6)])
    first = actions_client.get(ACTIONS + "?limit=2").json()
    assert [r["value"] for r in first["results"]] == ["5.00", "4.00"]
    second = actions_client.get(first["next"]).json()
    assert [r["value"] for r in second["results"]] == ["3.00", "2.00"]
    assert actions_client.get(ACTIONS + "?limit=1001").status_code == 400


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        (ACTIONS, "?to=9999-12-31", "to"),
        (ACTIONS, "?from=0001-01-01&to=9999-12-31", "from"),
        (ACTIONS, "?from=1970-12-31", "from"),
        (ACTIONS, "?to=9999-12-31T23:59:59%2B00:00", "to"),
        (ACTIONS, "?to=3000-01-01T00:00:00-12:00", "to"),
        (RATINGS, "?period=year&date=9999-12-31", "date"),
        (RATINGS, "?period=week&date=9999-12-31", "date"),
        (RATINGS, "?period=week&date=0001-01-01", "date"),
        (RATINGS, "?from=0001-01-01&to=9999-12-31", "from"),
        (RATINGS, "?from=2026-01-01&to=9999-12-31", "to"),
        (RATINGS, "?period=all&date=9999-12-31", "date"),
        ("figures", "?period=year&date=9999-12-31", "date"),
        ("figures", "?from=0001-01-01&to=0001-01-03", "from"),
        ("figures", "?date=0001-01-01", "date"),
    ],
)
def test_dates_beyond_the_supported_range_are_refused_naming_the_field(
    org, actions_client, path, query, field
):
    """issue 17: dates at the calendar's edges (9999-12-31, 0001-01-01) answered 500 (a period or
    a day after them past year 9999). Every date the platform takes is from 1971-01-01 to
    2999-12-31, refused otherwise by the one parser with ``invalid`` on the field, the range said."""
    if path == "figures":
        path = f"/api/v1/kpis/{org.calls.id}/figures/"
    response = actions_client.get(path + query)
    assert response.status_code == 400, response.content
    assert response.json() == {"errors": [error("invalid", field)]}
    assert "1971-01-01" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("path", "query"),
    [
        (ACTIONS, "?from=1971-01-01&to=2999-12-31"),
        (RATINGS, "?period=year&date=2999-12-31"),
        (RATINGS, "?period=week&date=2999-12-31"),
        (RATINGS, "?from=1971-01-01&to=2999-12-31"),
        ("figures", "?period=week&date=2999-12-31"),
        ("figures", "?period=month&date=1971-01-01"),
    ],
)
def test_the_first_and_last_supported_days_are_answered(org, actions_client, path, query):
    if path == "figures":
        path = f"/api/v1/kpis/{org.calls.id}/figures/"
    response = actions_client.get(path + query)
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?offset=99999999999999999999999", [error("max_value", "offset")]),
        ("?offset=1000000001", [error("max_value", "offset")]),
        ("?scope=team:²", [error("scope_invalid", "scope")]),
        ("?scope=department:99999999999999999999", [error("scope_invalid", "scope")]),
    ],
)
def test_the_leaderboards_integer_parameters_are_bounded(org, actions_client, query, expected):
    """issue 17: an offset past bigint overflowed the database, and ``str.isdigit`` took "²" for
    an id that ``int`` then refused (500s). Whole numbers are ASCII digits, bounded
    (``kpi_platform.ids``)."""
    response = actions_client.get(RATINGS + query)
    assert response.status_code == 400, response.content
    assert response.json() == {"errors": expected}


@pytest.mark.parametrize("query", ["?user=²", "?kpi=²", "?user=99999999999999999999", "?kpi=٣"])
def test_an_action_filter_that_is_no_id_matches_nothing(org, actions_client, query):
    """issue 17: "²" passed ``str.isdigit`` and ``int`` refused it (500)."""
    record(org, [item()])
    response = actions_client.get(ACTIONS + query)
    assert response.status_code == 200, response.content
    assert response.json()["results"] == []


def pages_of(client, url: str, *, most: int = 100) -> list[list[int]]:
    """The ids of every page from ``url`` on, following ``next`` (at most ``most`` pages: a cursor
    that loops fails the test instead of hanging it)."""
    pages = []
    while url and len(pages) < most:
        response = client.get(url)
        assert response.status_code == 200, response.content
        pages.append([row["id"] for row in response.json()["results"]])
        url = response.json()["next"]
    assert url is None, f"still a next page after {most} pages"
    return pages


def test_the_cursor_lists_every_action_once_however_many_share_a_time(org, actions_client):
    """issue 17: with more than 1,000 actions at one time (a batch posted without ``occurred_at``)
    DRF's cursor, positioned by the time alone and capped at an offset of 1,000, returned the same
    ``next`` for ever. The keyset cursor over (occurred_at, id) lists each exactly once, in order."""
    # given a batch of 5,000 actions posted without a time: one time for all
    batch = [{"kpi": "calls", "user": "ann@acme.example", "value": "1"} for _n in range(5000)]
    record(org, batch, recorded_by=org.admin)
    with company_context(org.company.id):
        assert KpiAction.objects.values("occurred_at").distinct().count() == 1
        expected = list(KpiAction.objects.order_by("-occurred_at", "-id").values_list("id", flat=True))
    # when the list is paged to the end
    pages = pages_of(actions_client, ACTIONS + "?limit=700")
    # then every action came exactly once, newest first (ties by id), and the cursor says nothing
    assert [action_id for page in pages for action_id in page] == expected
    assert [len(page) for page in pages] == [700] * 7 + [100]


def test_the_cursor_pages_back_and_refuses_a_tampered_cursor(org, actions_client):
    """issue 17: the cursor is opaque (base64 of a position); one that is not ours is a 400."""
    record(org, [item(value=str(n)) for n in range(1, 6)])  # five actions at one time
    first = actions_client.get(ACTIONS + "?limit=2").json()
    second = actions_client.get(first["next"]).json()
    assert first["previous"] is None
    # paging back from the second page gives the first page again
    back = actions_client.get(second["previous"]).json()
    assert [r["id"] for r in back["results"]] == [r["id"] for r in first["results"]]
    assert back["previous"] is None
    for cursor in ("zzz", "bm90IGpzb24", "WyJuIiwgWyJ4IiwgMV1d", "WyJuIiwgWzEsIDJdXQ", "%00", "e30"):
        response = actions_client.get(f"{ACTIONS}?cursor={cursor}")
        assert response.status_code == 400, cursor
        assert response.json() == {"errors": [error("invalid", "cursor")]}


def test_the_cursor_skips_and_repeats_nothing_while_actions_are_recorded(org, actions_client):
    """issue 17: rows recorded between two pages never shift the cursor: each action that existed
    at the start comes exactly once, and a new one comes once if it sorts after the cursor's place
    (an earlier time), never if before it (a later time, or the same time: a larger id)."""
    # given 30 actions at one time and 30 at an earlier one
    record(org, [item(value=str(n)) for n in range(1, 31)])
    record(org, [item(value=str(n), occurred_at="2026-11-01T10:00:00+03:00") for n in range(1, 31)])
    with company_context(org.company.id):
        existing = list(KpiAction.objects.order_by("-occurred_at", "-id").values_list("id", flat=True))
    # when actions are recorded after every page: one at the same time as the first ones (it sorts
    # before the cursor), one at a later time, and one earlier than any so far (it sorts after it)
    seen, url, late = [], ACTIONS + "?limit=7", []
    while url:
        body = actions_client.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
        if url is None:
            break
        result = record(
            org,
            [
                item(value="100"),
                item(value="101", occurred_at="2026-11-03T10:00:00+03:00"),
                item(value="102", occurred_at=f"2026-10-{30 - len(late):02}T10:00:00+03:00"),
            ],
        )
        late.append([row["id"] for row in result.results])
        assert len(seen) < 500
    # then every action that existed came exactly once and in order
    assert [action_id for action_id in seen if action_id in set(existing)] == existing
    assert len(seen) == len(set(seen))
    # and of the new ones, none before the cursor's place, every one after it exactly once
    new = [action_id for action_id in seen if action_id not in set(existing)]
    assert not set(new) & {action_id for same, later, _early in late for action_id in (same, later)}
    assert sorted(new) == sorted(early for _same, _later, early in late)


@pytest.mark.parametrize(
    ("who", "seen"),
    [
        ("ann", {"ann@acme.example"}),
        ("lead", {"ann@acme.example", "bob@acme.example"}),
        ("manager", {"ann@acme.example", "bob@acme.example", "cid@acme.example"}),
        ("admin", {"ann@acme.example", "bob@acme.example", "cid@acme.example", "eve@acme.example"}),
    ],
)
def test_people_list_the_actions_of_those_they_see(org, client_for, who, seen):
    record(org, [item(user=f"{name}@acme.example") for name in ("ann", "bob", "cid", "eve")])
    response = client_for(getattr(org, who)).get(ACTIONS)
    assert {r["user"]["email"] for r in response.json()["results"]} == seen


@pytest.mark.parametrize("who", ["token", "lead"])
def test_the_list_has_a_constant_query_count(org, actions_client, client_for, who):
    client = actions_client if who == "token" else client_for(org.lead)
    record(org, [item()])
    client.get(ACTIONS)  # the token's last use is recorded once

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(ACTIONS + "?limit=100")
        assert response.status_code == 200
        return len(captured), len(response.json()["results"])

    one, rows = queries()
    assert rows == 1
    record(org, [item(user=user, value=str(n)) for n in range(15) for user in ("ann@acme.example", "e-ann")])
    many, rows = queries()
    assert rows == 31
    assert many == one


# --- Voiding: POST /api/v1/actions/{id}/void/ -------------------------------------------------------------


def test_voiding_answers_the_action_and_a_second_void_is_refused(org, actions_client):
    action_id = record(org, [item()]).results[0]["id"]
    response = actions_client.post(f"{ACTIONS}{action_id}/void/", {"reason": "typo"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["voided"], body["void_reason"]) == (action_id, True, "typo")
    assert body["voided_at"] is not None
    again = actions_client.post(f"{ACTIONS}{action_id}/void/", {"reason": "typo"}, format="json")
    assert again.status_code == 400
    assert again.json() == {"errors": [error("already_voided")]}


def test_voiding_needs_a_reason(org, actions_client):
    action_id = record(org, [item()]).results[0]["id"]
    for body in ({}, {"reason": "  "}):
        response = actions_client.post(f"{ACTIONS}{action_id}/void/", body, format="json")
        assert response.status_code == 400
        assert response.json() == {"errors": [error("required", "reason")]}


def test_voiding_follows_the_recording_rules(org, client_for, assert_isolated):
    ann_action, eve_action = (r["id"] for r in record(org, [item(), item(user="eve@acme.example")]).results)
    # a member sees their own action but may not void it
    assert client_for(org.ann).post(f"{ACTIONS}{ann_action}/void/", {"reason": "x"}).status_code == 403
    # a lead does not see an action of someone outside their team
    assert_isolated(client_for(org.lead).post(f"{ACTIONS}{eve_action}/void/", {"reason": "x"}, format="json"))
    # and voids one of their team's
    voided = client_for(org.lead).post(f"{ACTIONS}{ann_action}/void/", {"reason": "x"}, format="json")
    assert voided.status_code == 200


def test_another_companys_actions_are_invisible(
    org, other_company, make_member, actions_client, assert_isolated
):
    # given an action of Globex
    make_member(other_company, email="zed@globex.example")
    with company_context(other_company.id):
        make_active_kpi(other_company, integration_name="calls", in_rating=True)
        theirs = services.actions_record(
            items=[{"kpi": "calls", "user": "zed@globex.example", "value": "100"}]
        ).results[0]["id"]
    record(org, [item()])
    # then Acme can neither void nor list it, nor see it in a rating
    assert_isolated(actions_client.post(f"{ACTIONS}{theirs}/void/", {"reason": "x"}, format="json"))
    assert_isolated(actions_client.post(f"{ACTIONS}abc/void/", {"reason": "x"}, format="json"))
    assert [r["user"]["email"] for r in actions_client.get(ACTIONS).json()["results"]] == ["ann@acme.example"]
    board = actions_client.get(RATINGS + "?period=all").json()
    assert [r["user"]["email"] for r in board["results"]] == ["ann@acme.example"]


# --- Ratings: GET /api/v1/ratings/ -----------------------------------------------------------------------


@pytest.fixture
def ranked(org):
    """deals at 10 points a deal: cid 3 deals, ann and bob 2 each (a tie), eve 1, in November 2026."""
    record(
        org,
        [
            item(user="cid@acme.example", kpi="deals", value="3"),
            item(user="ann@acme.example", kpi="deals", value="2"),
            item(user="bob@acme.example", kpi="deals", value="2"),
            item(user="eve@acme.example", kpi="deals", value="1"),
        ],
    )
    return org


def test_a_leaderboard_has_the_documented_shape_and_ties_share_a_rank(ranked, client_for):
    org = ranked
    response = client_for(org.ann).get(RATINGS + "?period=month&date=2026-11-15")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["period"] == {"start": "2026-11-01", "end": "2026-11-30"}
    assert (body["scope"], body["count"]) == ("company", 4)
    ann = org.ann.user
    assert body["results"][1] == {
        "rank": 2,
        "user": {"id": ann.id, "email": ann.email, "name": ann.get_full_name()},
        "points": "20.00",
    }
    assert [(r["rank"], r["user"]["email"], r["points"]) for r in body["results"]] == [
        (1, "cid@acme.example", "30.00"),
        (2, "ann@acme.example", "20.00"),
        (2, "bob@acme.example", "20.00"),
        (4, "eve@acme.example", "10.00"),
    ]
    assert body["me"] == {"rank": 2, "points": "20.00"}


def test_a_leaderboard_matches_the_selector(ranked, actions_client):
    org = ranked
    for query, period, scope in [
        ("?period=week&date=2026-11-02", "week", Scope()),
        ("?period=year&date=2026-06-01&scope=department:{sales}", "year", Scope("department", org.sales.id)),
        (
            "?period=quarter&date=2026-11-30&scope=team:{alpha}&limit=1&offset=1",
            "quarter",
            Scope("team", org.alpha.id),
        ),
    ]:
        body = actions_client.get(RATINGS + query.format(sales=org.sales.id, alpha=org.alpha.id)).json()
        params = {"limit": 1, "offset": 1} if "limit" in query else {}
        day = datetime.date.fromisoformat(query.split("date=")[1][:10])
        with company_context(org.company.id):
            board = leaderboard(period=period, day=day, scope=scope, **params)
        assert body["count"] == board.count
        assert body["scope"] == str(scope)
        assert [(r["rank"], r["user"]["id"], Decimal(r["points"])) for r in body["results"]] == [
            (row.rank, row.member_id, row.points) for row in board.rows
        ]
        assert body["me"] is None  # a token has no place of its own


def test_all_time_has_no_bounds_and_a_range_sums_its_days(ranked, actions_client):
    body = actions_client.get(RATINGS + "?period=all").json()
    assert body["period"] == {"start": None, "end": None}
    assert body["count"] == 4
    ranged = actions_client.get(RATINGS + "?from=2026-11-02&to=2026-11-02").json()
    assert ranged["period"] == {"start": "2026-11-02", "end": "2026-11-02"}
    assert [r["points"] for r in ranged["results"]] == ["30.00", "20.00", "20.00", "10.00"]
    assert actions_client.get(RATINGS + "?from=2026-11-03&to=2026-11-30").json()["count"] == 0


def test_periods_are_counted_in_the_companys_time_zone(org, actions_client):
    # given two actions a minute either side of midnight, Moscow time, at the turn of the month
    record(
        org,
        [
            item(kpi="deals", value="1", occurred_at="2026-10-31T20:59:00+00:00"),  # 23:59 on Oct 31
            item(kpi="deals", value="2", occurred_at="2026-10-31T21:01:00+00:00"),  # 00:01 on Nov 1
        ],
    )
    october = actions_client.get(RATINGS + "?period=month&date=2026-10-31").json()
    november = actions_client.get(RATINGS + "?period=month&date=2026-11-01").json()
    assert [r["points"] for r in october["results"]] == ["10.00"]
    assert [r["points"] for r in november["results"]] == ["20.00"]
    days = actions_client.get(RATINGS + "?from=2026-11-01&to=2026-11-01").json()
    assert [r["points"] for r in days["results"]] == ["20.00"]


def test_the_default_is_this_month_in_the_companys_time_zone(org, actions_client):
    record(org, [{"kpi": "deals", "user": "ann@acme.example", "value": "1"}])  # now
    body = actions_client.get(RATINGS).json()
    assert [r["points"] for r in body["results"]] == ["10.00"]
    assert body["period"]["start"].endswith("-01")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?period=fortnight", error("period_invalid", "period")),
        ("?scope=galaxy", error("scope_invalid", "scope")),
        ("?scope=team:x", error("scope_invalid", "scope")),
        ("?date=2026-13-01", error("invalid", "date")),
        ("?from=2026-11-01", error("invalid", "to")),
        ("?from=2026-11-02&to=2026-11-01", error("invalid", "from")),
        ("?limit=0", error("min_value", "limit")),
    ],
)
def test_bad_rating_parameters_are_refused(org, actions_client, query, expected):
    response = actions_client.get(RATINGS + query)
    assert response.status_code == 400
    assert response.json() == {"errors": [expected]}


def test_units_out_of_sight_are_not_found(org, other_company, client_for, actions_client):
    from orgs.services import department_create

    with company_context(other_company.id):
        theirs = department_create(name="Globex sales")
    # another company's department, even for a token of the whole company
    response = actions_client.get(RATINGS + f"?scope=department:{theirs.id}")
    assert response.status_code == 400
    assert response.json() == {"errors": [error("not_found", "scope")]}
    # a member sees the company, their own team and department, not another team
    ann = client_for(org.ann)
    assert ann.get(RATINGS + "?scope=company").status_code == 200
    assert ann.get(RATINGS + f"?scope=team:{org.alpha.id}").status_code == 200
    assert ann.get(RATINGS + f"?scope=department:{org.sales.id}").status_code == 200
    assert ann.get(RATINGS + f"?scope=team:{org.beta.id}").json() == {"errors": [error("not_found", "scope")]}
    # a manager sees every team of their department
    assert client_for(org.manager).get(RATINGS + f"?scope=team:{org.beta.id}").status_code == 200


def test_me_is_null_outside_the_scope(ranked, client_for):
    body = client_for(ranked.eve).get(RATINGS + f"?period=all&scope=team:{ranked.helpdesk.id}").json()
    assert body["me"] == {"rank": 1, "points": "10.00"}
    lead = client_for(ranked.lead).get(RATINGS + f"?period=all&scope=team:{ranked.alpha.id}").json()
    assert lead["me"] == {"rank": 3, "points": "0.00"}  # in the team, with no points yet
    manager = client_for(ranked.manager).get(RATINGS + f"?period=all&scope=team:{ranked.beta.id}").json()
    assert manager["me"] is None


def test_the_endpoints_are_in_the_openapi_schema(db, client):
    schema = client.get("/api/schema/").content.decode()
    for path in (
        "/api/v1/actions/",
        "/api/v1/actions/{action_id}/void/",
        "/api/v1/ratings/",
        "/api/v1/kpis/{kpi_id}/recalculate/",
        "/api/v1/recalculations/{recalculation_id}/",
    ):
        assert f"{path}:" in schema
    assert "PaginatedActionList" in schema
