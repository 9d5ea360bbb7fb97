"""Spreadsheet exports (PRODUCT I4): one response builder for every export of the platform.

Public interface (kept stable; dashboards, leaderboards and the admin use it):

* ``export_response(filename_stem, fmt, header, rows)``: an attachment download of ``header`` and
  then ``rows`` (any iterable, consumed once, lazily) as ``fmt`` ``"csv"`` or ``"xlsx"``. Memory
  stays bounded however many rows there are:

  - csv is a ``StreamingHttpResponse`` that encodes the rows in batches (UTF-8 with a BOM, so Excel
    opens it as UTF-8). The server reads it after the view has returned, outside the request's
    company context, so each batch of ``rows`` is read inside the company context that was current
    when ``export_response`` was called: a lazy queryset (or a generator of querysets) still reads
    the right company's rows, on PostgreSQL with its row-level security too;
  - xlsx is written by openpyxl's write-only mode (rows go straight to a temporary file on disk)
    and then streamed from that file.

Cells may be ``str``, ``int``, ``float``, ``Decimal``, ``bool``, ``date``, ``datetime`` or ``None``.
Aware datetimes are written in the current time zone (Excel has no time zones); xlsx keeps numbers
and dates as native cells, csv writes them as ISO text. Text a spreadsheet would run as a formula,
the header's included, gets the platform's one escape (``kpi_platform.cells.escape_formula``), and a
csv quotes every text cell (``CSV_QUOTING``), so no list separator splits one into a formula.
"""

import csv
import datetime
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice

from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header
from openpyxl import Workbook

from kpi_platform.cells import CSV_QUOTING, escape_formula, xlsx_text
from orgs.tenancy import company_context, current_company_id_or_none

CSV_BATCH = 1000  # rows read and encoded together
FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def export_response(
    filename_stem: str, fmt: str, header: Sequence[str], rows: Iterable[Sequence]
) -> HttpResponse:
    """A download of ``header`` + ``rows`` as ``<filename_stem>.<fmt>``; see the module docstring."""
    if fmt not in FORMATS:
        raise ValueError(f"Unknown export format {fmt!r}; expected one of {sorted(FORMATS)}.")
    filename = f"{filename_stem}.{fmt}"
    if fmt == "csv":
        # Read now: the generator's body runs only when the server sends the response, after the
        # middleware has left the company's context and time zone.
        company_id, zone = current_company_id_or_none(), timezone.get_current_timezone()
        response = StreamingHttpResponse(
            _csv_chunks(header, rows, company_id, zone), content_type=FORMATS["csv"]
        )
    else:
        response = FileResponse(_xlsx_file(header, rows), content_type=FORMATS["xlsx"])
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    return response


class _Line:
    """A file-like object whose ``write`` hands back what it was given, so ``csv.writer`` can
    encode one row at a time (Django's "Streaming large CSV files" recipe)."""

    def write(self, value: str) -> str:
        return value


def _csv_chunks(
    header: Sequence[str], rows: Iterable[Sequence], company_id: int | None, zone: datetime.tzinfo
) -> Iterator[bytes]:
    writer = csv.writer(_Line(), quoting=CSV_QUOTING)
    yield "\ufeff".encode() + writer.writerow([escape_formula(name) for name in header]).encode()
    iterator = iter(rows)
    while True:
        with company_context(company_id), timezone.override(zone):
            batch = [
                writer.writerow([_csv_cell(value) for value in row]) for row in islice(iterator, CSV_BATCH)
            ]
        if not batch:
            return
        yield "".join(batch).encode()


def _csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, datetime.datetime) and timezone.is_aware(value):
        value = timezone.localtime(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return escape_formula(value)


def _xlsx_file(header: Sequence[str], rows: Iterable[Sequence]):
    """The workbook in an anonymous temporary file, rewound for reading (deleted when closed)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append([_xlsx_cell(name) for name in header])
    for row in rows:
        sheet.append([_xlsx_cell(value) for value in row])
    output = tempfile.TemporaryFile()  # noqa: SIM115 - FileResponse closes it after streaming
    workbook.save(output)
    output.seek(0)
    return output


def _xlsx_cell(value):
    if isinstance(value, datetime.datetime) and timezone.is_aware(value):
        return timezone.make_naive(value)
    if isinstance(value, str):
        return xlsx_text(value)
    return value
