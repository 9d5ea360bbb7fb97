"""Spreadsheet cells made safe to open (PRODUCT I3, I4): the one formula escape of every export.

OWASP's "CSV injection": a spreadsheet runs a cell as a formula when it starts with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return, and a csv's cells are split by whatever list separator the
spreadsheet's locale uses (``,``; ``;`` in the Russian locale; a tab), quotes or not: unquoted, or
after a number, ``x;=cmd|' /C calc'!A0`` is two cells where the separator is ``;``, the second a
formula. So every text cell gets an apostrophe before a trigger that starts it **or** follows one of
those separators or a line break (spaces between are skipped, as a spreadsheet may trim them); an
apostrophe already there gets one more, so an import takes exactly one off again
(``unescape_formula``) and an exported file imports as it was. On top, a csv quotes every text cell
(``CSV_QUOTING``); numbers stay unquoted, so they open as numbers. Other values pass unchanged.
"""

import csv
import re

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"
CSV_QUOTING = csv.QUOTE_NONNUMERIC  # for every csv the platform writes (``csv.writer(quoting=...)``)

# Where a cell, or a part of it a list separator would split off, starts: the text's start, or after
# ``,`` ``;`` a tab or a line break, then any spaces.
_PART_START = r"(?:^|(?<=[,;\t\r\n]))( *)"
_TRIGGER = "[" + re.escape("".join(FORMULA_TRIGGERS)) + "]"
_EXPOSED = re.compile(_PART_START + f"(?={ESCAPE}*{_TRIGGER})")
_ESCAPED = re.compile(_PART_START + f"{ESCAPE}(?={ESCAPE}*{_TRIGGER})")


def escape_formula(value):
    """``value``, with an apostrophe before every trigger a spreadsheet would run as a formula,
    at its start or after a list separator (module docstring)."""
    if isinstance(value, str) and value:
        return _EXPOSED.sub(r"\1" + ESCAPE, value)
    return value


def unescape_formula(value: str) -> str:
    """The inverse of ``escape_formula``, so an exported file imports as it was."""
    if ESCAPE not in value:
        return value
    return _ESCAPED.sub(r"\1", value)


def xlsx_text(value: str) -> str:
    """A text cell of an xlsx sheet: escaped (``escape_formula``), and with the control characters
    a sheet's XML does not allow replaced, the rest of the text kept."""
    return escape_formula(ILLEGAL_CHARACTERS_RE.sub("\N{REPLACEMENT CHARACTER}", value))
