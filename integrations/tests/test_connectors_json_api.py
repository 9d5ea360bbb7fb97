"""The generic JSON connector (issue 20, item 2) against the fixture server on 127.0.0.1."""

import datetime
import socket

import pytest

from integrations.connectors import ConnectorError, CredentialsRejected, Limits, connector_for
from integrations.connectors.json_api import JsonApiConnector, flatten, value_at
from integrations.tests.fixture_server import (  # noqa: F401  # fixtures
    Answer,
    Sleeps,
    json_answer,
    loopback_only_fixture,
    paged_json,
    server_fixture,
)

NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
RECORDS = [
    {
        "id": i,
        "owner": {"email": f"p{i}@acme.example"},
        "amount": i * 10,
        "updated_at": f"2026-02-0{i}T10:00:00Z",
    }
    for i in range(1, 6)
]
PAGING = {
    "next": {"pagination": "next", "next_path": "links.next"},
    "page": {"pagination": "page"},
    "page with a size": {"pagination": "page", "page_size_param": "per_page", "page_size": "2"},
    "offset": {"pagination": "offset", "page_size": "2"},
    "cursor": {"pagination": "cursor", "cursor_path": "meta.next_cursor"},
}


def read(url, *, cursor=None, limits=None, credentials=None, sleep=None, resolver=None, **settings):
    options = {"sleep": sleep if sleep is not None else Sleeps()}
    if resolver:
        options["resolver"] = resolver
    pull = JsonApiConnector(**options).pull(
        settings={"url": url, "records_path": "data.items", "updated_field": "updated_at", **settings},
        credentials=credentials or {},
        cursor=cursor,
        limits=limits or Limits(),
        now=NOW,
    )
    return list(pull.records), pull


def test_the_kind_is_registered():
    assert isinstance(connector_for("json"), JsonApiConnector)


@pytest.mark.parametrize("style", PAGING)
def test_every_pagination_style_reads_every_record_once(server, style):
    # given: 5 records in pages of 2
    server.route("/items", paged_json(RECORDS, style=PAGING[style]["pagination"], page_size=2))
    # when
    records, pull = read(server.url("/items"), **PAGING[style])
    # then
    assert [r.id for r in records] == ["1", "2", "3", "4", "5"]
    assert [r.position for r in records] == [1, 2, 3, 4, 5]
    assert pull.pages == len(server.hits("/items"))
    assert pull.pages in (3, 4)  # the page styles without a size read one empty page more


def test_the_offset_style_sends_offset_and_limit(server):
    server.route("/items", paged_json(RECORDS, style="offset", page_size=2))

    read(server.url("/items"), pagination="offset", page_size="2")

    assert [(r.param("offset"), r.param("limit")) for r in server.hits("/items")] == [
        ("0", "2"),
        ("2", "2"),
        ("4", "2"),
    ]


def test_nested_fields_are_flattened_and_the_change_time_parsed(server):
    server.route("/items", paged_json(RECORDS[:1], style="none"))

    records, _ = read(server.url("/items"))

    assert records[0].fields == {
        "id": 1,
        "owner.email": "p1@acme.example",
        "amount": 10,
        "updated_at": "2026-02-01T10:00:00Z",
    }
    assert records[0].updated_at == datetime.datetime(2026, 2, 1, 10, tzinfo=datetime.UTC)


def test_records_at_the_top_level_and_a_chosen_id_field(server):
    server.route("/list", json_answer([{"key": "a-1", "n": 1}, {"key": "a-2", "n": 2}]))

    records, pull = read(server.url("/list"), records_path="", id_field="key", updated_field="")

    assert [r.id for r in records] == ["a-1", "a-2"]
    assert pull.cursor is None


def test_the_cursor_is_sent_as_updated_since_and_becomes_the_greatest_change_seen(server):
    # given: the last committed run saw changes up to 3 February
    server.route("/items", paged_json(RECORDS, style="next", page_size=2))
    # when
    records, pull = read(
        server.url("/items"),
        pagination="next",
        next_path="links.next",
        updated_since_param="updated_since",
        cursor="2026-02-03T10:00:00Z",
    )
    # then
    assert server.hits("/items")[0].param("updated_since") == "2026-02-03T10:00:00Z"
    assert [r.id for r in records] == ["3", "4", "5"]
    assert pull.cursor == "2026-02-05T10:00:00Z"


def test_the_cursor_is_known_only_once_the_records_are_read(server):
    server.route("/items", paged_json(RECORDS, style="none"))

    _records, pull = read(server.url("/items"), cursor="2026-01-01T00:00:00Z")

    assert pull.cursor == "2026-02-05T10:00:00Z"
    unread = JsonApiConnector().pull(
        settings={"url": server.url("/items")}, credentials={}, cursor="C", limits=Limits(), now=NOW
    )
    assert unread.cursor == "C"


def test_the_cursor_never_moves_back(server):
    # given: a source that ignores updated_since and sends old records
    server.route("/items", paged_json(RECORDS[:2], style="none"))
    # when
    _records, pull = read(
        server.url("/items"), updated_since_param="since", cursor="2026-02-20T00:00:00+00:00"
    )
    # then
    assert pull.cursor == "2026-02-20T00:00:00+00:00"


def test_no_records_keep_the_previous_cursor(server):
    server.route("/items", json_answer({"data": {"items": []}}))

    records, pull = read(server.url("/items"), cursor="2026-02-20T00:00:00Z")

    assert records == []
    assert pull.cursor == "2026-02-20T00:00:00Z"


def test_a_bearer_token_is_sent_and_a_401_rejects_it(server):
    server.route("/items", Answer(401, b'{"error": "invalid_token"}'))

    with pytest.raises(CredentialsRejected):
        read(server.url("/items"), credentials={"token": "tok-1"})

    assert server.hits("/items")[0].headers["authorization"] == "Bearer tok-1"


def test_a_next_link_to_another_host_gets_no_credentials(server):
    # given: the first page links to another host name (of the same fixture server)
    other = f"http://cdn.test:{server.port}/page2"
    server.route("/items", json_answer({"data": {"items": [RECORDS[0]]}, "next": other}))
    server.route("/page2", json_answer({"data": {"items": [RECORDS[1]]}, "next": None}))

    def resolver(host, port, type=0, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    # when
    records, _ = read(
        server.url("/items"), pagination="next", credentials={"token": "tok"}, resolver=resolver
    )
    # then
    assert len(records) == 2
    assert server.hits("/items")[0].headers["authorization"] == "Bearer tok"
    assert "authorization" not in server.hits("/page2")[0].headers


def test_a_429_on_the_second_page_waits_and_goes_on(server):
    pages = paged_json(RECORDS, style="page", page_size=2)
    server.route("/items", pages, Answer(429, headers={"Retry-After": "3"}), pages)
    sleeps = Sleeps()

    records, _ = read(server.url("/items"), pagination="page", sleep=sleeps)

    assert len(records) == 5
    assert sleeps == [3.0]


def test_a_record_that_is_not_an_object_fails_the_run_naming_it(server):
    server.route("/items", json_answer({"data": {"items": [RECORDS[0], "oops"]}}))

    with pytest.raises(ConnectorError) as error:
        read(server.url("/items"))

    assert "Record 2" in error.value.message


def test_a_record_without_an_id_fails_the_run_naming_it(server):
    server.route("/items", json_answer({"data": {"items": [RECORDS[0], {"amount": 3}]}}))

    with pytest.raises(ConnectorError) as error:
        read(server.url("/items"))

    assert "Record 2" in error.value.message
    assert "id" in error.value.message


def test_a_change_time_that_is_not_one_fails_naming_the_record(server):
    server.route("/items", json_answer({"data": {"items": [{"id": 1, "updated_at": "yesterday"}]}}))

    with pytest.raises(ConnectorError) as error:
        read(server.url("/items"))

    assert "Record 1" in error.value.message


def test_an_answer_without_the_records_list_fails(server):
    server.route("/items", json_answer({"error": "nope"}))

    with pytest.raises(ConnectorError) as error:
        read(server.url("/items"))

    assert "data.items" in error.value.message


def test_an_answer_that_is_not_json_fails(server):
    server.route("/items", Answer(200, b"<html>login</html>"))

    with pytest.raises(ConnectorError) as error:
        read(server.url("/items"))

    assert "JSON" in error.value.message


def test_a_never_ending_next_link_stops_at_the_page_limit(server):
    server.route("/items", json_answer({"data": {"items": [RECORDS[0]]}, "next": "/items"}))

    with pytest.raises(ConnectorError) as error:
        read(server.url("/items"), pagination="next", limits=Limits(max_pages=4))

    assert "4 pages" in error.value.message
    assert len(server.hits("/items")) == 4


def test_value_at_and_flatten():
    assert value_at({"a": {"b": [{"c": 1}]}}, "a.b.0.c") == 1
    assert value_at({"a": 1}, "a.b") is None
    assert flatten({"a": {"b": {"c": 1}}, "d": [1], "e": {}}) == {"a.b.c": 1, "d": [1], "e": {}}


def test_check_settings():
    connector = JsonApiConnector()

    assert (
        connector.check_settings({"url": "https://api.example.com/v1/sales", "pagination": "next"}, {}) == {}
    )
    assert set(connector.check_settings({"url": "api", "pagination": "cursor", "page_size": "x"}, {})) == {
        "url",
        "cursor_path",
        "page_size",
    }


def test_a_record_changed_between_reads_comes_again_with_its_id_and_new_fields(server):
    # given: record 2's amount is changed upstream after the first read
    changed = [RECORDS[0], {**RECORDS[1], "amount": 999, "updated_at": "2026-02-10T10:00:00Z"}]
    server.route("/items", paged_json(RECORDS[:2], style="none"), paged_json(changed, style="none"))
    settings = {"updated_since_param": "updated_since"}
    _first, pull = read(server.url("/items"), **settings)
    # when
    second, later = read(server.url("/items"), cursor=pull.cursor, **settings)
    # then: only the changed record, same id, its new amount; the cursor moves to its change
    assert [(r.id, r.fields["amount"]) for r in second] == [("2", 999)]
    assert later.cursor == "2026-02-10T10:00:00Z"
