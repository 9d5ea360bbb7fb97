"""The activity logger (O5, R3; issue 18, item 7): each person is offered the KPIs that reach them,
rows are added and removed and still recorded all or nothing, and what the viewer just recorded
is listed with an undo (R5) that goes through the void service and its rules."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.formats import date_format

from kpis import services as kpi_services
from kpis.selectors import kpi_list_for_member
from kpis.tests.factories import make_active_kpi
from orgs.models import Role
from orgs.services import members_move, team_create
from orgs.tenancy import company_context
from pages.tests.test_ratings import actions, logger_post
from ratings.tests.pages_org import build_org, record


@pytest.fixture
def org(company, make_member):
    org = build_org(company, make_member)
    with company_context(company.id):
        # Support's own KPI, one Alpha hides, a calculated one and a hidden one (none for Sales)
        org.tickets = make_active_kpi(
            company,
            name={"en": "Tickets resolved", "ru": "Решённые заявки"},
            integration_name="tickets_resolved",
            level="department",
            department=org.support,
        )
        org.visits = make_active_kpi(
            company, name={"en": "Site visits", "ru": "Визиты"}, integration_name="visits"
        )
        kpi_services.kpi_hide(kpi=org.visits, team=org.alpha)
        org.rate = make_active_kpi(
            company, name={"en": "Win rate", "ru": "Конверсия"}, formula="deals / calls"
        )
        org.draft = kpi_services.kpi_create(
            name={"en": "Draft KPI", "ru": "Черновик"}, integration_name="draft"
        )
    return org


def refused(response, company) -> list[list[str]]:
    """A refused form: a 400, nothing recorded; each row's errors."""
    assert response.status_code == 400
    assert actions(company) == []
    return [row["errors"] for row in response.context["rows"]]


def offered_names(response, member) -> set[str]:
    names = {kpi_id: name for kpi_id, name, _unit in response.context["kpis"]}
    return {names[kpi_id] for kpi_id in response.context["offered"][str(member.user_id)]}


def test_each_person_is_offered_only_the_kpis_that_reach_them(client, org):
    # when the company admin opens the logger
    client.force_login(org.admin.user)
    response = client.get("/logger/")
    # then a salesperson is not offered Support's KPI, nor one their team hides, and nobody a
    # calculated or hidden KPI
    assert offered_names(response, org.ann) == {"Calls made", "Deals won", "Response time"}
    assert offered_names(response, org.cid) == {"Calls made", "Deals won", "Response time", "Site visits"}
    assert offered_names(response, org.eve) == {
        "Calls made",
        "Deals won",
        "Response time",
        "Site visits",
        "Tickets resolved",
    }
    # and it agrees with the KPIs a person has elsewhere (Home, profile), for everyone offered
    with company_context(org.company.id):
        for member in response.context["people"]:
            expected = {kpi.id for kpi in kpi_list_for_member(member) if not kpi.is_calculated}
            assert set(response.context["offered"][str(member.user_id)]) == expected, member


def test_a_lead_is_offered_no_kpi_that_reaches_none_of_their_people(client, org):
    client.force_login(org.lead.user)
    response = client.get("/logger/")
    assert [name for _id, name, _unit in response.context["kpis"]] == [
        "Calls made",
        "Deals won",
        "Response time",
    ]
    assert "Tickets resolved" not in response.content.decode()


def test_a_kpi_that_does_not_reach_the_person_is_refused_by_its_name(client, org):
    # when the admin sends Support's KPI for a salesperson, beside a good row
    response = logger_post(
        client,
        org.admin,
        [
            {"person": org.eve.user_id, "kpi": org.tickets.id, "value": "4"},
            {"person": org.ann.user_id, "kpi": org.tickets.id, "value": "3"},
        ],
    )
    # then nothing is recorded, and the row says why by the names on the page
    assert refused(response, org.company) == [
        [],
        ["Ann Alpha does not receive the KPI “Tickets resolved”: choose one of their KPIs."],
    ]
    assert "tickets_resolved" not in response.content.decode()


def test_the_kpis_name_is_the_one_the_viewer_reads(client, org):
    org.admin.user.language = "ru"
    org.admin.user.save(update_fields=["language"])
    client.force_login(org.admin.user)
    response = client.post(
        "/logger/",
        {"person-0": org.ann.user_id, "kpi-0": org.tickets.id, "value-0": "1"},
        HTTP_ACCEPT_LANGUAGE="ru",
    )
    assert "Решённые заявки" in refused(response, org.company)[0][0]
    assert "tickets_resolved" not in response.content.decode()


@pytest.mark.parametrize("kpi", ["rate", "draft"])
def test_a_kpi_that_takes_no_actions_is_not_on_the_list(client, org, kpi):
    response = logger_post(
        client, org.admin, [{"person": org.ann.user_id, "kpi": getattr(org, kpi).id, "value": "1"}]
    )
    assert refused(response, org.company) == [["Choose a KPI from the list."]]


def test_the_logger_starts_with_three_rows_and_records_as_many_as_were_added(client, org):
    client.force_login(org.lead.user)
    assert [row["index"] for row in client.get("/logger/").context["rows"]] == [0, 1, 2]
    # rows 1 and 3 were removed on the page, 4 and 5 added
    response = logger_post(
        client,
        org.lead,
        [
            {"person": org.ann.user_id, "kpi": org.calls.id, "value": "1"},
            {},
            {"person": org.bob.user_id, "kpi": org.calls.id, "value": "2"},
            {},
            {"person": org.ann.user_id, "kpi": org.deals.id, "value": "3"},
            {"person": org.bob.user_id, "kpi": org.deals.id, "value": "4"},
        ],
    )
    assert response.status_code == 200
    assert "4 actions recorded." in response.content.decode()
    assert [(a.member_id, a.kpi_id, int(a.value)) for a in actions(org.company)] == [
        (org.ann.user_id, org.calls.id, 1),
        (org.bob.user_id, org.calls.id, 2),
        (org.ann.user_id, org.deals.id, 3),
        (org.bob.user_id, org.deals.id, 4),
    ]
    assert [row["index"] for row in response.context["rows"]] == [0, 1, 2]  # a fresh form


def test_a_refused_row_keeps_every_row_as_typed(client, org):
    # given rows 0, 2 and 7 (the others removed on the page), the last with a bad value
    client.force_login(org.lead.user)
    data = {
        "person-0": org.ann.user_id, "kpi-0": org.calls.id, "value-0": "12", "comment-0": "morning",
        "person-2": org.bob.user_id, "kpi-2": org.deals.id, "value-2": "1,5", "when-2": "2026-11-02T09:30",
        "person-7": org.bob.user_id, "kpi-7": org.calls.id, "value-7": "lots",
    }  # fmt: skip
    response = client.post("/logger/", data)
    # then nothing is recorded, every row comes back as typed, the error beside the last
    assert response.status_code == 400
    assert actions(org.company) == []
    rows = {row["index"]: row for row in response.context["rows"]}
    assert sorted(rows) == [0, 2, 7]
    assert (rows[0]["value"], rows[0]["comment"], rows[0]["errors"]) == ("12", "morning", [])
    assert (rows[2]["value"], rows[2]["when"], rows[2]["errors"]) == ("1,5", "2026-11-02T09:30", [])
    assert rows[7]["value"] == "lots"
    assert "A value is a number" in rows[7]["errors"][0]
    page = response.content.decode()
    assert 'name="value-7" value="lots"' in page
    assert 'id="row-7-errors"' in page
    assert response.context["next_index"] == 8  # an added row does not take a used index


def test_more_rows_than_the_limit_are_refused(client, org):
    from pages.views.ratings import LOGGER_MAX_ROWS

    rows = [{"person": org.ann.user_id, "kpi": org.calls.id, "value": "1"}] * (LOGGER_MAX_ROWS + 1)
    response = logger_post(client, org.lead, rows)
    assert response.status_code == 400
    assert actions(org.company) == []
    assert response.context["general_errors"] == [f"Record at most {LOGGER_MAX_ROWS} rows at once."]


# --- Just recorded, and undo (R5) -------------------------------------------------------------------


def test_the_viewer_sees_what_they_just_recorded_in_the_company_time(client, org):
    # given an action the lead recorded at 09:30 Moscow time, and one the admin recorded
    logger_post(
        client,
        org.lead,
        [{"person": org.ann.user_id, "kpi": org.calls.id, "value": "12", "when": "2026-11-02T09:30"}],
    )
    logger_post(client, org.admin, [{"person": org.eve.user_id, "kpi": org.calls.id, "value": "5"}])
    # when the lead opens the logger
    client.force_login(org.lead.user)
    response = client.get("/logger/")
    # then only theirs is listed, at the time they typed
    recent = response.context["recent"]
    assert [(action.member_id, name, action.value) for action, name, _unit in recent] == [
        (org.ann.user_id, "Calls made", 12)
    ]
    row = response.content.decode().split(f'id="recent-{recent[0][0].id}"')[1].split("</tr>")[0]
    assert date_format(datetime.datetime(2026, 11, 2, 9, 30), "SHORT_DATETIME_FORMAT") in row
    assert "Ann Alpha" in row


def test_the_list_shows_the_last_ten(client, org):
    logger_post(
        client,
        org.lead,
        [{"person": org.ann.user_id, "kpi": org.calls.id, "value": str(n)} for n in range(1, 13)],
    )
    client.force_login(org.lead.user)
    values = [int(action.value) for action, _name, _unit in client.get("/logger/").context["recent"]]
    assert values == list(range(12, 2, -1))


def undo(client, member, action_id: int):
    client.force_login(member.user)
    return client.post(f"/logger/actions/{action_id}/undo/", follow=True)


def test_undo_voids_ones_own_entry_and_says_so(client, org):
    logger_post(client, org.lead, [{"person": org.ann.user_id, "kpi": org.calls.id, "value": "12"}])
    logger_post(client, org.lead, [{"person": org.bob.user_id, "kpi": org.calls.id, "value": "7"}])
    first, second = actions(org.company)
    response = undo(client, org.lead, first.id)
    assert response.status_code == 200
    assert response.redirect_chain == [("/logger/", 302)]
    assert "Undone: 12 points of “Calls made” for Ann Alpha." in [
        str(m) for m in response.context["messages"]
    ]
    first, second = actions(org.company)
    assert first.voided_at is not None
    assert first.voided_by_id == org.lead.user_id
    assert first.void_reason == "Undone in the activity logger."
    assert second.voided_at is None  # only the one
    page = response.content.decode()
    voided_row = page.split(f'id="recent-{first.id}"')[1].split("</tr>")[0]
    assert 'class="voided"' in page.split(f'id="recent-{first.id}"')[1][:40]
    assert "voided" in voided_row
    assert "Undo</button>" not in voided_row
    # undoing twice changes nothing and says why
    again = undo(client, org.lead, first.id)
    assert "This action is already voided." in [str(m) for m in again.context["messages"]]


def test_undo_is_refused_for_what_one_did_not_record_or_may_no_longer_record(
    client, org, other_company, make_member
):
    # given an action the admin recorded for Ann, one the lead recorded for Bob, and Globex's own
    logger_post(client, org.admin, [{"person": org.ann.user_id, "kpi": org.calls.id, "value": "1"}])
    logger_post(client, org.lead, [{"person": org.bob.user_id, "kpi": org.calls.id, "value": "2"}])
    by_admin, by_lead = actions(org.company)
    gus = make_member(other_company, email="gus@globex.example")
    with company_context(other_company.id):
        kpi = make_active_kpi(other_company, integration_name="calls")
    record(other_company, (gus, kpi, 3, "2026-11-02"))
    globex_action = actions(other_company)[0]
    # the lead may not undo the admin's entry, nor Globex's (both: not found); a member may not use it
    assert undo(client, org.lead, by_admin.id).status_code == 404
    assert undo(client, org.lead, globex_action.id).status_code == 404
    assert undo(client, org.ann, by_lead.id).status_code == 403
    client.force_login(org.lead.user)
    assert client.get(f"/logger/actions/{by_lead.id}/undo/").status_code == 405
    # once Bob has left the lead's team, the void service refuses the lead (O5) with its message
    with company_context(org.company.id):
        members_move(members=[org.bob], team=org.beta)
    response = undo(client, org.lead, by_lead.id)
    assert "You void the actions of the people you manage only." in [
        str(m) for m in response.context["messages"]
    ]
    assert [a.voided_at for a in actions(org.company)] == [None, None]
    assert [a.voided_at for a in actions(other_company)] == [None]


# --- Many people, by team ---------------------------------------------------------------------------


def grow(org, company, make_member, people: int, kpis: int) -> None:
    with company_context(company.id):
        teams = [team_create(name=f"Team {n:02}", department=org.sales) for n in range(4)]
        for number in range(kpis):
            make_active_kpi(
                company,
                name={"en": f"Extra {number:02}", "ru": f"Доп {number:02}"},
                level="team",
                team=teams[number % 4],
            )
    for number in range(people):
        make_member(
            company, email=f"p{number}@acme.example", first_name=f"P{number:02}", team=teams[number % 4]
        )


def logger_queries(client, member) -> int:
    client.force_login(member.user)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/logger/")
    assert response.status_code == 200
    return len(queries)


def test_the_logger_takes_the_same_queries_for_40_people_and_40_kpis(client, org, company, make_member):
    for who in (org.admin, org.manager, org.lead):  # something in "Just recorded"
        person = org.ann if who != org.admin else org.eve
        logger_post(client, who, [{"person": person.user_id, "kpi": org.calls.id, "value": "1"}])
    before = {who: logger_queries(client, getattr(org, who)) for who in ("admin", "manager", "lead")}
    grow(org, company, make_member, 40, 40)
    logger_post(
        client,
        org.admin,
        [{"person": org.eve.user_id, "kpi": org.calls.id, "value": str(n)} for n in range(1, 12)],
    )
    after = {who: logger_queries(client, getattr(org, who)) for who in ("admin", "manager", "lead")}
    assert after == before
    assert max(after.values()) <= 20
    # and sending 40 rows stays within the same bound
    client.force_login(org.admin.user)
    with CaptureQueriesContext(connection) as queries:
        response = logger_post(
            client, org.admin, [{"person": org.eve.user_id, "kpi": org.calls.id, "value": "1"}] * 40
        )
    assert response.status_code == 200, response.context["general_errors"]
    assert len(queries) <= 45


def test_an_admin_finds_a_person_among_many_grouped_by_team(client, org, company, make_member):
    grow(org, company, make_member, 40, 0)
    client.force_login(org.admin.user)
    response = client.get("/logger/")
    groups = response.context["groups"]
    labels = [label for label, _members in groups]
    assert labels[:-1] == sorted(labels[:-1], key=str.casefold)
    assert labels[-1] == "No team"  # the admin
    by_label = dict(groups)
    assert [str(m.user) for m in by_label["Sales / Alpha"]] == ["Ann Alpha", "Bob Alpha", "Lea Lead"]
    assert len(by_label["Sales / Team 00"]) == 10
    assert "Max Manager" in [str(m.user) for m in by_label["Sales"]]  # in a department, no team
    assert sum(len(members) for _label, members in groups) == len(response.context["people"]) == 47
    page = response.content.decode()
    assert '<optgroup label="Sales / Team 03">' in page
    assert 'id="logger-person-filter"' in page
    # a lead with two people gets no filter
    client.force_login(org.lead.user)
    assert 'id="logger-person-filter"' not in client.get("/logger/").content.decode()


def test_people_without_a_team_or_department_are_listed_last(client, org, make_member, company):
    make_member(company, Role.MEMBER, email="zed@acme.example", first_name="Zed", last_name="Meyers")
    client.force_login(org.admin.user)
    groups = client.get("/logger/").context["groups"]
    assert groups[-1][0] == "No team"
    assert [str(member.user) for member in groups[-1][1]] == ["Ada Adler", "Zed Meyers"]


def test_the_services_refusal_of_a_stale_row_names_the_kpi_as_the_page_does(client, org, monkeypatch):
    """Between opening the page and sending it, Support's KPI was offered to Ann (a stale page):
    the recording service refuses it (K8), and the logger says so by the KPI's name, not its
    integration name."""
    from pages import selectors

    real = selectors.logger_choices

    def stale(viewer, languages):
        choices = real(viewer, languages)
        choices.offered = {user_id: list(choices.live) for user_id in choices.offered}
        return choices

    monkeypatch.setattr(selectors, "logger_choices", stale)
    response = logger_post(
        client, org.admin, [{"person": org.ann.user_id, "kpi": org.tickets.id, "value": "1"}]
    )
    assert refused(response, org.company) == [
        ["Ann Alpha does not receive the KPI “Tickets resolved”: choose one of their KPIs."]
    ]
    assert "tickets_resolved" not in response.content.decode()
