"""A csv or xlsx file at a URL (kind ``csv_url``): a published Google Sheet, a nightly export.

Real sources: Google Sheets' "Publish to the web" gives
``https://docs.google.com/spreadsheets/d/e/<id>/pub?output=csv`` (or ``output=xlsx``), a URL with
no file extension, answered as ``text/csv`` or as the xlsx media type; a file server's nightly
export is a plain ``.csv``/``.xlsx`` URL, sometimes behind basic auth or a bearer token.

The file is downloaded whole through the run's HTTP client (its byte limit applies), then read
by the SAME parser as uploaded files (``integrations.parsing.open_table``: its encodings,
delimiters, zip-bomb checks and row numbers). Each row is a ``Record`` whose ``fields`` map the
header's names to the row's cells and whose ``position`` is the row number a spreadsheet shows.

``Record.id`` is the row's value in ``id_column`` when the settings name one; otherwise it is
derived from the row's content (sha256 of its cells, and ``-2``, ``-3`` … for the second and
third identical row), so re-reading the same file records nothing twice, and a row edited
upstream is a new record. There is no cursor: every run re-reads the whole file, which is
idempotent.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Iterator
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from integrations.connectors.base import Connector, ConnectorError, Limits, Pull, Record, register
from integrations.connectors.http import CREDENTIAL_FIELDS, HttpConnector, authorization, url_errors
from integrations.parsing import Unreadable, open_table

FORMATS = ("auto", "csv", "xlsx")
IN_MEMORY_BYTES = 8 * 1024 * 1024  # a larger download spills to a temporary file


@register
class CsvUrlConnector(HttpConnector, Connector):
    kind = "csv_url"
    label = gettext_lazy("CSV or xlsx file at a URL")
    settings_fields = {
        "url": gettext_lazy("The file's address, e.g. a Google Sheet published as csv or xlsx."),
        "format": gettext_lazy("csv, xlsx or auto (by the file's content); auto when empty."),
        "id_column": gettext_lazy(
            "The column that identifies a row; when empty, a row is identified by its content."
        ),
    }
    credential_fields = CREDENTIAL_FIELDS

    def check_settings(self, settings: dict[str, Any], credentials: dict[str, Any]) -> dict[str, str]:
        errors = url_errors(settings)
        if (settings.get("format") or "auto") not in FORMATS:
            errors["format"] = _("Choose csv, xlsx or auto.")
        return errors

    def records(self, pull: Pull, settings, credentials, limits: Limits) -> Iterator[Record]:
        pull.cursor = None  # every run reads the whole file
        with tempfile.SpooledTemporaryFile(max_size=IN_MEMORY_BYTES) as file:
            with self.client(limits) as http:
                http.get(settings["url"], headers=authorization(credentials), into=file)
                pull.pages, pull.bytes_read = http.pages, http.bytes_read
            file_format = _format(file, settings.get("format") or "auto")
            file.seek(0)
            try:
                table = open_table(file, f"source.{file_format}")
                yield from _rows(table, settings.get("id_column") or "")
            except Unreadable as exc:
                raise ConnectorError(exc.message) from exc


def _format(file, chosen: str) -> str:
    if chosen != "auto":
        return chosen
    file.seek(0)
    return "xlsx" if file.read(4) == b"PK\x03\x04" else "csv"  # an xlsx is a zip archive


def _rows(table, id_column: str) -> Iterator[Record]:
    header = table.header
    if id_column and id_column not in header:
        raise ConnectorError(_("The file has no column “%(column)s”.") % {"column": id_column})
    id_index = header.index(id_column) if id_column else None
    seen: dict[bytes, int] = {}
    for number, cells in table.rows:
        cells = list(cells) + [None] * (len(header) - len(cells))
        fields = {name: cells[i] for i, name in enumerate(header) if name}
        if id_index is not None:
            value = cells[id_index]
            if value is None or not str(value).strip():
                raise ConnectorError(
                    _("Row %(row)d has no value in the column “%(column)s”.")
                    % {"row": number, "column": id_column}
                )
            record_id = _cell_text(value)
        else:
            record_id = _content_id(cells[: len(header)], seen)
        yield Record(id=record_id, fields=fields, position=number)


def _cell_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # an xlsx id cell 1001 is read as 1001.0
    return str(value).strip()


def _content_id(cells: list, seen: dict[bytes, int]) -> str:
    """The row's digest; the n-th identical row of the file gets ``-n`` after it."""
    text = json.dumps([None if c is None else _cell_text(c) for c in cells], ensure_ascii=False)
    digest = hashlib.sha256(text.encode()).digest()[:16]
    seen[digest] = count = seen.get(digest, 0) + 1
    return digest.hex() if count == 1 else f"{digest.hex()}-{count}"
