"""Reading uploaded spreadsheets row by row (PRODUCT I3, API.md "Imports").

``open_table`` turns a stored file into a ``Table``: its header and an iterator of
``(row_number, cells)``, with ``row_number`` as a spreadsheet shows it (the header is row 1).

* **csv**: UTF-8 with or without a BOM; comma or semicolon, whichever the header line uses more
  (a header separated by tabs is refused as such).
  Read lazily, so memory does not grow with the file.
* **xlsx**: python-calamine (Rust), about ten times faster than openpyxl. Its XML reader
  (quick-xml) expands no DTD entities (it refuses them: "unrecognized entity"), so an entity bomb
  fails the file at once. A zip bomb is refused before any sheet is inflated, by the sizes the
  archive declares (``IMPORT_MAX_UNCOMPRESSED_BYTES`` in all, and a compression ratio no real sheet
  reaches). Cells come typed: numbers, dates (Excel's date cells), text. A formula cell is read as
  the value it last computed, never evaluated. calamine holds the whole sheet in memory (about
  half a GB for a million rows), within the worker's budget.

Empty rows (every cell blank) are skipped; they keep their numbers, so errors point at the right row.
A file that cannot be read raises ``Unreadable`` with a message for the person who uploaded it.
"""

import codecs
import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from django.utils.translation import gettext as _
from python_calamine import CalamineError, CalamineWorkbook

CSV_SAMPLE = 64 * 1024
MAX_COMPRESSION_RATIO = 1000  # real sheets inflate 5–100 times; bombs a million times


class Unreadable(Exception):
    """The file as a whole cannot be read; ``message`` says why (translated)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class Table:
    header: list[str]
    rows: Iterator[tuple[int, list]]
    # Data rows the file holds, as far as it can tell before reading them (for the progress bar).
    estimated_rows: int


def file_format(file_name: str) -> str | None:
    """``"csv"`` or ``"xlsx"`` by the file's extension, or None for any other type."""
    extension = file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""
    return extension if extension in ("csv", "xlsx") else None


def open_table(file: IO[bytes], file_name: str) -> Table:
    """The table in ``file`` (opened in binary, seekable); raises ``Unreadable``."""
    if file_format(file_name) == "xlsx":
        return _xlsx_table(file)
    return _csv_table(file)


def _header(cells: list) -> list[str]:
    return [str(cell).strip() if cell is not None else "" for cell in cells]


def _is_blank(cells: list) -> bool:
    return all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in cells)


# --- csv -----------------------------------------------------------------------------------------


def _csv_table(file: IO[bytes]) -> Table:
    sample = file.read(CSV_SAMPLE)
    if not sample.strip(codecs.BOM_UTF8 + b" \r\n\t"):
        raise Unreadable(_("The file is empty."))
    if sample.startswith(b"PK\x03\x04") or b"\x00" in sample:
        raise Unreadable(_("This is not a csv file: save it as csv (UTF-8) or xlsx."))
    line_count = sample.count(b"\n") + _count_newlines(file)
    file.seek(0)
    text = io.TextIOWrapper(file, encoding="utf-8-sig", newline="")
    try:
        first_line = text.readline()
    except UnicodeDecodeError as exc:
        raise _not_utf8() from exc
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    if delimiter not in first_line and "\t" in first_line:
        # Read with commas it would be one column, reported as every column missing.
        raise Unreadable(_("The columns are separated by tabs: save the csv with commas or semicolons."))
    reader = csv.reader(_chain_line(first_line, text), delimiter=delimiter)
    header = _header(next(reader))
    return Table(header=header, rows=_csv_rows(reader), estimated_rows=max(line_count - 1, 0))


def _count_newlines(file: IO[bytes]) -> int:
    count = 0
    while chunk := file.read(1024 * 1024):
        count += chunk.count(b"\n")
    return count


def _chain_line(first_line: str, text: IO[str]) -> Iterator[str]:
    yield first_line
    yield from text


def _not_utf8() -> Unreadable:
    return Unreadable(_("The file is not UTF-8 text: save it as csv (UTF-8) or xlsx."))


def _csv_rows(reader) -> Iterator[tuple[int, list]]:
    try:
        # csv.reader counts physical lines; a quoted cell may span several, so use its count.
        for cells in reader:
            if "".join(cells).strip():  # not a blank line (C speed: this runs per row)
                yield reader.line_num, cells
    except UnicodeDecodeError as exc:
        raise _not_utf8() from exc
    except csv.Error as exc:
        raise Unreadable(
            _("The csv file is malformed near line %(line)d.") % {"line": reader.line_num}
        ) from exc


# --- xlsx ----------------------------------------------------------------------------------------


def _xlsx_table(file: IO[bytes]) -> Table:
    _check_archive(file)
    file.seek(0)
    try:
        workbook = CalamineWorkbook.from_filelike(file)
        if not workbook.sheet_names:
            raise Unreadable(_("The workbook has no sheet."))
        sheet = workbook.get_sheet_by_index(0)
        rows = sheet.iter_rows()
        first = next(rows, None)
    except (CalamineError, ValueError, OSError) as exc:
        raise Unreadable(_("The xlsx file cannot be read: %(error)s") % {"error": exc}) from exc
    if first is None or _is_blank(first):
        raise Unreadable(_("The file is empty."))
    start_row = (sheet.start or (0, 0))[0] + 1  # calamine skips leading empty rows
    return Table(
        header=_header(first),
        rows=_xlsx_rows(rows, start_row + 1),
        estimated_rows=max(sheet.height - 1, 0),
    )


def _xlsx_rows(rows, first_number: int) -> Iterator[tuple[int, list]]:
    try:
        # calamine gives "" for an empty cell; None is what the rest of the import means by nothing.
        for number, cells in enumerate(rows, start=first_number):
            cells = [None if cell == "" else cell for cell in cells]
            if cells.count(None) < len(cells):  # not a blank row
                yield number, cells
    except CalamineError as exc:
        raise Unreadable(_("The xlsx file cannot be read: %(error)s") % {"error": exc}) from exc


def _check_archive(file: IO[bytes]) -> None:
    """Refuse a zip bomb by the sizes the archive declares, before anything is inflated."""
    try:
        archive = zipfile.ZipFile(file)
    except zipfile.BadZipFile as exc:
        raise Unreadable(_("This is not an xlsx file: save it as xlsx or csv (UTF-8).")) from exc
    with archive:
        members = archive.infolist()
    total = sum(member.file_size for member in members)
    too_dense = any(
        member.file_size > 1024 * 1024
        and member.file_size > MAX_COMPRESSION_RATIO * max(member.compress_size, 1)
        for member in members
    )
    if total > settings.IMPORT_MAX_UNCOMPRESSED_BYTES or too_dense:
        raise Unreadable(_("The xlsx file unpacks to more data than an import may hold."))
