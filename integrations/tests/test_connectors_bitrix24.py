"""The Bitrix24 connector (issue 20, item 2) against Bitrix24-format answers on 127.0.0.1."""

import datetime

import pytest

from integrations.connectors import ConnectorError, CredentialsRejected, Limits, connector_for
from integrations.connectors.bitrix24 import Bitrix24Connector
from integrations.tests.fixture_server import (  # noqa: F401  # fixtures
    Answer,
    Sleeps,
    bitrix_list,
    json_answer,
    loopback_only_fixture,
    server_fixture,
)

NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
TOKEN = "k3y9s3cr3t"
DEALS_PATH = f"/rest/7/{TOKEN}/crm.deal.list"
ACTIVITIES_PATH = f"/rest/7/{TOKEN}/crm.activity.list"


def deal(number, *, won=True, closed="", modified=None, amount="1000.00", person="15"):
    return {
        "ID": str(number),
        "TITLE": f"Deal #{number}",
        "STAGE_ID": "WON" if won else "NEW",
        "STAGE_SEMANTIC_ID": "S" if won else "P",
        "OPPORTUNITY": amount,
        "CURRENCY_ID": "RUB",
        "ASSIGNED_BY_ID": person,
        "CLOSEDATE": closed,
        "DATE_MODIFY": modified or f"2026-02-{1 + number % 28:02d}T10:00:00+03:00",
    }


def activity(number, type_id, *, completed="Y", end="2026-02-03T11:00:00+03:00"):
    return {
        "ID": str(number),
        "TYPE_ID": type_id,
        "SUBJECT": f"Activity {number}",
        "RESPONSIBLE_ID": "21",
        "COMPLETED": completed,
        "START_TIME": "2026-02-03T10:00:00+03:00",
        "END_TIME": end,
        "LAST_UPDATED": f"2026-02-0{number}T12:00:00+03:00",
    }


def read(server, *, cursor=None, sleep=None, path=DEALS_PATH, **settings):
    connector = Bitrix24Connector(sleep=sleep if sleep is not None else Sleeps())
    webhook = server.url(path.rsplit("/", 1)[0] + "/")
    pull = connector.pull(
        settings=settings, credentials={"webhook_url": webhook}, cursor=cursor, limits=Limits(), now=NOW
    )
    return list(pull.records), pull


def test_the_kind_is_registered():
    assert isinstance(connector_for("bitrix24"), Bitrix24Connector)


def test_won_deals_are_read_in_pages_of_50_with_start_next_and_total(server):
    # given: 120 won deals and 10 in progress
    deals = [deal(n) for n in range(1, 121)] + [deal(n, won=False) for n in range(121, 131)]
    server.route(DEALS_PATH, bitrix_list(deals))
    # when
    records, pull = read(server)
    # then
    assert [r.id for r in records] == [str(n) for n in range(1, 121)]
    assert [r.param("start") for r in server.hits(DEALS_PATH)] == ["0", "50", "100"]
    assert server.hits(DEALS_PATH)[0].param("filter[STAGE_SEMANTIC_ID]") == "S"
    assert pull.extra["total"] == 120
    assert pull.pages == 3


def test_a_deal_has_the_person_the_amount_and_its_time(server):
    server.route(
        DEALS_PATH,
        bitrix_list([deal(1, closed="2026-02-10T18:00:00+03:00", amount="15000.50", person="42"), deal(2)]),
    )

    records, _ = read(server)

    assert records[0].fields["ASSIGNED_BY_ID"] == "42"
    assert records[0].fields["OPPORTUNITY"] == "15000.50"
    assert records[0].fields["TIME"] == "2026-02-10T18:00:00+03:00"
    assert records[1].fields["TIME"] == records[1].fields["DATE_MODIFY"]  # no close date
    assert records[0].updated_at == datetime.datetime(2026, 2, 2, 7, tzinfo=datetime.UTC)


def test_the_cursor_filters_by_date_modify_and_advances_to_the_latest_change(server):
    server.route(DEALS_PATH, bitrix_list([deal(n) for n in range(1, 8)]))

    records, pull = read(server, cursor="2026-02-05T10:00:00+03:00")

    assert server.hits(DEALS_PATH)[0].param("filter[>=DATE_MODIFY]") == "2026-02-05T10:00:00+03:00"
    assert [r.id for r in records] == ["4", "5", "6", "7"]
    assert pull.cursor == "2026-02-08T10:00:00+03:00"


def test_a_deal_changed_between_reads_comes_again_with_its_id_and_new_amount(server):
    # given: the first read, then deal 2's amount is changed upstream
    server.route(
        DEALS_PATH,
        bitrix_list([deal(1), deal(2)]),
        bitrix_list([deal(1), deal(2, amount="2500.00", modified="2026-02-20T09:00:00+03:00")]),
    )
    first, pull = read(server)
    # when
    second, later = read(server, cursor=pull.cursor)
    # then
    assert [(r.id, r.fields["OPPORTUNITY"]) for r in second] == [("2", "2500.00")]
    assert later.cursor == "2026-02-20T09:00:00+03:00"
    assert first[1].id == second[0].id


def test_calls_and_meetings_are_completed_activities_with_their_kind(server):
    server.route(
        ACTIVITIES_PATH,
        bitrix_list(
            [activity(1, "2"), activity(2, "1", end=""), activity(3, "4"), activity(4, "2", completed="N")]
        ),
    )

    records, pull = read(server, path=ACTIVITIES_PATH, entity="activities")

    assert [(r.id, r.fields["KIND"]) for r in records] == [("1", "call"), ("2", "meeting")]
    assert records[1].fields["TIME"] == "2026-02-03T10:00:00+03:00"  # no end time: the start
    assert records[0].fields["RESPONSIBLE_ID"] == "21"
    assert pull.cursor == "2026-02-02T12:00:00+03:00"


def test_activities_only_of_the_chosen_types_and_since_the_cursor(server):
    server.route(ACTIVITIES_PATH, bitrix_list([activity(n, "2") for n in range(1, 5)] + [activity(5, "1")]))

    records, _ = read(
        server, path=ACTIVITIES_PATH, entity="activities", activity_types="calls", cursor="2026-02-03"
    )

    assert [r.id for r in records] == ["3", "4"]
    assert server.hits(ACTIVITIES_PATH)[0].params["filter[@TYPE_ID][]"] == ["2"]


def test_the_rate_limit_answer_is_backed_off_and_retried(server):
    limited = json_answer({"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}, 503)
    server.route(DEALS_PATH, limited, limited, bitrix_list([deal(1)]))
    sleeps = Sleeps()

    records, _ = read(server, sleep=sleeps)

    assert len(records) == 1
    assert sleeps == [1.0, 2.0]


def test_a_manual_overload_block_is_not_retried_and_is_described(server):
    blocked = {"error": "OVERLOAD_LIMIT", "error_description": "REST API is blocked due to overload."}
    server.route(DEALS_PATH, json_answer(blocked, 503))
    sleeps = Sleeps()

    with pytest.raises(ConnectorError) as error:
        read(server, sleep=sleeps)

    assert "REST API is blocked due to overload." in error.value.message
    assert sleeps == []


def test_an_error_answer_is_a_connector_error_with_its_description_and_no_token(server):
    server.route(DEALS_PATH, json_answer({"error": "ERROR_CORE", "error_description": "Invalid filter"}, 400))

    with pytest.raises(ConnectorError) as error:
        read(server)

    assert not isinstance(error.value, CredentialsRejected)
    assert "Invalid filter" in error.value.message
    assert TOKEN not in error.value.message


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (401, "expired_token"),
        (401, "NO_AUTH_FOUND"),
        (403, "insufficient_scope"),
        (400, "INVALID_CREDENTIALS"),
    ],
)
def test_rejected_credentials_pause_the_source(server, status, code):
    server.route(
        DEALS_PATH, json_answer({"error": code, "error_description": "Wrong authorization data"}, status)
    )

    with pytest.raises(CredentialsRejected) as error:
        read(server)

    assert code in error.value.message
    assert TOKEN not in error.value.message


def test_an_error_in_a_200_answer_fails_the_run(server):
    server.route(DEALS_PATH, json_answer({"error": "ERROR_CORE", "error_description": "Internal error"}))

    with pytest.raises(ConnectorError) as error:
        read(server)

    assert "Internal error" in error.value.message


def test_a_deal_without_an_id_fails_naming_its_position(server):
    broken = deal(2)
    del broken["ID"]
    server.route(DEALS_PATH, bitrix_list([deal(1), broken]))

    with pytest.raises(ConnectorError) as error:
        read(server)

    assert "Record 2" in error.value.message


def test_check_settings():
    connector = Bitrix24Connector()
    good = {"webhook_url": "https://acme.bitrix24.ru/rest/1/abc123def/"}

    assert connector.check_settings({}, good) == {}
    assert connector.check_settings({"entity": "activities", "activity_types": "calls"}, good) == {}
    assert set(
        connector.check_settings(
            {"entity": "leads", "activity_types": "emails"}, {"webhook_url": "https://acme.bitrix24.ru/"}
        )
    ) == {"webhook_url", "entity", "activity_types"}
