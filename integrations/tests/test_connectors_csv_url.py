"""The csv/xlsx-at-a-URL connector (issue 20, item 2) against the fixture server on 127.0.0.1."""

import datetime

import pytest

from integrations.connectors import ConnectorError, CredentialsRejected, Limits, connector_for
from integrations.connectors.csv_url import CsvUrlConnector
from integrations.tests.fixture_server import (  # noqa: F401  # fixtures
    Answer,
    csv_answer,
    loopback_only_fixture,
    server_fixture,
    xlsx_answer,
)

NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
SHEET = (
    "user,kpi,value,occurred_at,deal\n"
    "ann@acme.example,calls,1,2026-02-01,D-1\n"
    "bob@acme.example,calls,2,2026-02-02,D-2\n"
)


def read(url, limits=None, credentials=None, **settings):
    connector = CsvUrlConnector(sleep=lambda seconds: None)
    pull = connector.pull(
        settings={"url": url, **settings},
        credentials=credentials or {},
        cursor=None,
        limits=limits or Limits(),
        now=NOW,
    )
    records = list(pull.records)
    return records, pull


def test_the_kind_is_registered():
    assert isinstance(connector_for("csv_url"), CsvUrlConnector)


def test_a_csv_rows_are_records_with_the_headers_fields_and_row_numbers(server):
    # given
    server.route("/export.csv", csv_answer(SHEET))
    # when
    records, pull = read(server.url("/export.csv"), id_column="deal")
    # then
    assert [(r.id, r.position) for r in records] == [("D-1", 2), ("D-2", 3)]
    assert records[0].fields == {
        "user": "ann@acme.example",
        "kpi": "calls",
        "value": "1",
        "occurred_at": "2026-02-01",
        "deal": "D-1",
    }
    assert pull.cursor is None
    assert pull.pages == 1
    assert pull.bytes_read == len(SHEET)


def test_a_published_google_sheet_in_xlsx_is_read_by_its_content(server):
    # given: Google's URL has no extension; the answer is an xlsx
    rows = [["user", "value", "id"], ["ann@acme.example", 5, 1001], ["bob@acme.example", 7.5, 1002]]
    server.route("/spreadsheets/d/e/2PACX-1/pub", xlsx_answer(rows))
    # when
    records, _pull = read(server.url("/spreadsheets/d/e/2PACX-1/pub") + "?output=xlsx", id_column="id")
    # then
    assert [(r.id, r.fields["value"], r.position) for r in records] == [("1001", 5, 2), ("1002", 7.5, 3)]


def test_a_semicolon_csv_with_a_bom_is_read_as_uploads_are(server):
    server.route("/e.csv", Answer(200, "\ufeffuser;value\nann;3\n".encode()))

    records, _pull = read(server.url("/e.csv"))

    assert records[0].fields == {"user": "ann", "value": "3"}


def test_without_an_id_column_rereading_the_same_file_gives_the_same_ids(server):
    server.route("/e.csv", csv_answer(SHEET))

    first, _ = read(server.url("/e.csv"))
    second, _ = read(server.url("/e.csv"))

    assert [r.id for r in first] == [r.id for r in second]
    assert len({r.id for r in first}) == 2


def test_identical_rows_are_distinct_records(server):
    # given: two calls of the same person on the same day, the same row twice
    server.route("/e.csv", csv_answer("user,value\nann,1\nann,1\nbob,1\n"))
    # when
    records, _ = read(server.url("/e.csv"))
    # then
    ids = [r.id for r in records]
    assert len(set(ids)) == 3
    assert ids[1] == f"{ids[0]}-2"


def test_a_row_changed_between_reads_is_a_new_record_and_the_others_keep_their_ids(server):
    server.route(
        "/e.csv",
        csv_answer("user,value\nann,1\nbob,2\n"),
        csv_answer("user,value\nann,1\nbob,3\ncarl,1\n"),
    )

    before, _ = read(server.url("/e.csv"))
    after, _ = read(server.url("/e.csv"))

    assert after[0].id == before[0].id
    assert after[1].id != before[1].id
    assert len({r.id for r in before} | {r.id for r in after}) == 4


def test_a_missing_id_column_fails_naming_it(server):
    server.route("/e.csv", csv_answer(SHEET))

    with pytest.raises(ConnectorError) as error:
        read(server.url("/e.csv"), id_column="number")

    assert "number" in error.value.message


def test_a_row_without_an_id_fails_naming_the_row(server):
    server.route("/e.csv", csv_answer("user,deal\nann,D-1\nbob,\n"))

    with pytest.raises(ConnectorError) as error:
        read(server.url("/e.csv"), id_column="deal")

    assert "Row 3" in error.value.message
    assert "deal" in error.value.message


def test_a_file_that_is_not_utf8_fails_with_the_parsers_message(server):
    server.route("/e.csv", Answer(200, "user,value\nПетя,1\n".encode("cp1251")))

    with pytest.raises(ConnectorError) as error:
        read(server.url("/e.csv"))

    assert "UTF-8" in error.value.message


def test_a_file_larger_than_the_runs_byte_limit_fails(server):
    server.route("/e.csv", csv_answer("user,value\n" + "ann,1\n" * 100_000))

    with pytest.raises(ConnectorError) as error:
        read(server.url("/e.csv"), limits=Limits(max_bytes=64 * 1024))

    assert "MB" in error.value.message


def test_basic_credentials_are_sent_and_a_refusal_rejects_them(server):
    server.route("/e.csv", Answer(401))

    with pytest.raises(CredentialsRejected):
        read(server.url("/e.csv"), credentials={"username": "ops", "password": "pw"})

    assert server.hits("/e.csv")[0].headers["authorization"] == "Basic b3BzOnB3"


def test_a_server_error_then_success_is_retried(server):
    server.route("/e.csv", Answer(500), csv_answer(SHEET))

    records, _ = read(server.url("/e.csv"), id_column="deal")

    assert len(records) == 2


def test_nothing_is_downloaded_before_the_records_are_read(server):
    server.route("/e.csv", csv_answer(SHEET))

    CsvUrlConnector().pull(
        settings={"url": server.url("/e.csv")}, credentials={}, cursor=None, limits=Limits(), now=NOW
    )

    assert server.requests == []


def test_check_settings():
    connector = CsvUrlConnector()

    assert connector.check_settings({"url": "https://docs.google.com/x/pub?output=csv"}, {}) == {}
    assert set(connector.check_settings({"url": "ftp://files/x.csv", "format": "ods"}, {})) == {
        "url",
        "format",
    }
