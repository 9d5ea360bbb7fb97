"""Exports (PRODUCT I4): csv and xlsx downloads with formula cells escaped, streamed."""

import csv
import datetime
import io
from decimal import Decimal
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from django.http import StreamingHttpResponse
from django.utils import timezone

from integrations.exports import export_response
from kpi_platform.cells import unescape_formula
from orgs.tenancy import company_context, current_company_id_or_none

HEADER = ["user", "comment", "points", "occurred_at"]
MOSCOW = ZoneInfo("Europe/Moscow")


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_csv_export_streams_rows_with_bom_and_escaped_formulas():
    # given rows produced lazily
    rows = iter([["ann@acme.example", '=HYPERLINK("x")', Decimal("12.50"), datetime.date(2026, 3, 1)]])

    # when
    response = export_response("actions", "csv", HEADER, rows)

    # then
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="actions.csv"'
    body = _body(response)
    assert body.startswith(b"\xef\xbb\xbf")
    assert list(csv.reader(io.StringIO(body.decode("utf-8-sig")))) == [
        HEADER,
        ["ann@acme.example", '\'=HYPERLINK("x")', "12.50", "2026-03-01"],
    ]


def test_csv_export_writes_aware_datetimes_in_the_current_time_zone():
    moment = datetime.datetime(2026, 3, 1, 21, 30, tzinfo=datetime.UTC)
    with timezone.override(MOSCOW):
        body = _body(export_response("actions", "csv", ["at", "void"], [[moment, None]]))
    assert body.decode("utf-8-sig").splitlines() == ['"at","void"', '"2026-03-02T00:30:00+03:00",""']


def test_xlsx_export_keeps_native_cells_and_escapes_formulas():
    # given
    moment = datetime.datetime(2026, 3, 1, 21, 30, tzinfo=datetime.UTC)
    rows = (["bob", "-not a formula", 3, moment], ["ann", "ok\x07", Decimal("1.25"), None])

    # when
    with timezone.override(MOSCOW):
        response = export_response("leaderboard", "xlsx", HEADER, rows)

    # then
    assert response["Content-Disposition"] == 'attachment; filename="leaderboard.xlsx"'
    sheet = openpyxl.load_workbook(io.BytesIO(_body(response)), read_only=True).active
    assert [list(row) for row in sheet.iter_rows(values_only=True)] == [
        HEADER,
        ["bob", "'-not a formula", 3, datetime.datetime(2026, 3, 2, 0, 30)],
        ["ann", "ok\N{REPLACEMENT CHARACTER}", 1.25],  # a trailing empty cell is not stored
    ]


def test_export_of_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="Unknown export format"):
        export_response("actions", "ods", HEADER, [])


def test_csv_rows_are_read_in_the_company_context_of_the_call_even_after_it_ended():
    # given rows that say which company they are read as (a lazy queryset would be scoped by it)
    def rows():
        yield [current_company_id_or_none()]

    # when the response is built in company 7 and sent after that context ended (as a server does)
    with company_context(7):
        response = export_response("rows", "csv", ["company"], rows())
    body = _body(response)

    # then they were read as company 7, and the context is gone again
    assert body.decode("utf-8-sig").splitlines() == ['"company"', "7"]
    assert current_company_id_or_none() is None


@pytest.mark.parametrize("separator", [",", ";", "\t"])
def test_csv_export_exposes_no_formula_whatever_the_spreadsheets_separator(separator):
    """issue 17: ``x;=cmd|' /C calc'!A0`` was written unquoted, so a spreadsheet whose list separator
    is ``;`` (the Russian locale) split it and ran its second part. Every text cell is quoted now
    (OWASP): read with ``,``, ``;`` or a tab as the separator, no cell starts a formula, and the
    numbers stay unquoted numbers."""
    # given text that hides a formula after each separator a spreadsheet may use, and numbers
    hostile = ["x,=cmd|' /C calc'!A0", "x;=cmd|' /C calc'!A0", "x\t=cmd|' /C calc'!A0", "x\n@SUM(A1)"]
    rows = [[text, Decimal("-12.50"), 3] for text in hostile]

    # when
    text = _body(export_response("actions", "csv", ["comment", "points", "count"], rows)).decode("utf-8-sig")

    # then a spreadsheet splitting on the separator sees no cell that starts a formula
    for row in csv.reader(io.StringIO(text), delimiter=separator):
        for cell in row:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), (separator, row)
            assert not (cell.startswith("-") and not cell.lstrip("-").replace(".", "", 1).isdigit()), row
    # and read with its own separator the file holds the cells, escaped as an import undoes it
    assert [[unescape_formula(cell) for cell in row] for row in csv.reader(io.StringIO(text))][1:] == [
        [value, "-12.50", "3"] for value in hostile
    ]
    assert text.splitlines()[1] == "\"x,'=cmd|' /C calc'!A0\",-12.50,3"  # text quoted, numbers not
