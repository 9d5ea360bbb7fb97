"""The columns of an actions file (API.md "Imports") and how a cell becomes an item of
``ratings.services.actions_record``.

Header names are matched case-insensitively, with surrounding spaces ignored, in English or in
Russian. Cells arrive typed from xlsx (numbers, dates) or as text from csv; both become what the
recording service takes, so every rule of R1–R4 is decided there and only there.
"""

import datetime
import re
from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kpi_platform.cells import ESCAPE, unescape_formula


@dataclass(frozen=True)
class Column:
    name: str
    aliases: frozenset[str]
    required: bool


def _column(name: str, *aliases: str, required: bool = True) -> Column:
    return Column(name, frozenset({name, *aliases}), required)


ACTION_COLUMNS = (
    _column("user", "email", "e-mail", "пользователь", "сотрудник", "почта"),
    _column("kpi", "показатель", "kpi показатель", "кпэ"),
    _column("value", "значение", "количество"),
    _column("occurred_at", "occurred at", "date", "дата", "когда", "дата и время"),
    _column("external_id", "external id", "внешний id", "внешний идентификатор", required=False),
    _column("comment", "комментарий", required=False),
)

MEMBER_COLUMNS = (
    _column("email", "e-mail", "почта", "электронная почта"),
    _column("first_name", "first name", "имя", required=False),
    _column("last_name", "last name", "фамилия", required=False),
    _column("role", "роль", required=False),
    _column("department", "отдел", "подразделение", required=False),
    _column("team", "команда", required=False),
    _column("external_id", "external id", "внешний id", "табельный номер", required=False),
    _column("language", "язык", required=False),
)

MISSING_COLUMN = gettext_lazy("The file has no column “%(column)s”.")


def match_header(
    header: list[str], columns=ACTION_COLUMNS
) -> tuple[dict[str, int], dict[str, str], list[str]]:
    """Where each known column is (name → position), the file's own spelling of each
    (name → header text) and the names of required columns that are missing."""
    positions, spelled = {}, {}
    for position, text in enumerate(header):
        key = " ".join(text.lower().replace("_", " ").split())
        for column in columns:
            if column.name not in positions and key in {alias.replace("_", " ") for alias in column.aliases}:
                positions[column.name], spelled[column.name] = position, text
    missing = [column.name for column in columns if column.required and column.name not in positions]
    return positions, spelled, missing


def text_cell(value) -> str | None:
    """A cell as text: numbers as written (12.0 → "12"), our exports' formula escape undone."""
    if type(value) is str:  # the common case first: this runs for millions of cells
        text = value.strip()
    elif value is None:
        return None
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        text = str(value)
    if ESCAPE in text:  # the check first: millions of cells, few with an apostrophe
        text = unescape_formula(text)
    return text or None


def value_cell(value):
    """A number as the service's decimal parser takes it; "12,5" (a decimal comma) as 12.5."""
    if type(value) is str:
        value = value.strip()
        if "," in value and "." not in value and value.count(",") == 1:
            return value.replace(",", ".")
        return value or None
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back as the same float: 12.34, not 12.339…
    return value


_DOTTED = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


def moment_cell(value):
    """A time for the service: an Excel date cell, ISO 8601 text or ``DD.MM.YYYY [HH:MM[:SS]]``.
    Without an offset it is the company's local time (the service applies it). A date is its
    midnight. Nothing is None; anything else is passed on for the service to refuse."""
    if type(value) is str:
        text = value.strip()
        if "." in text[:3]:
            return _dotted(text)
        return text or None
    if isinstance(value, datetime.datetime):
        return value
    if isinstance(value, datetime.date):
        return datetime.datetime.combine(value, datetime.time())
    return value


def _dotted(text: str):
    match = _DOTTED.match(text)
    if match is None:
        return text
    day, month, year, hour, minute, second = (int(part or 0) for part in match.groups())
    try:
        return datetime.datetime(year, month, day, hour, minute, second)
    except ValueError:
        return text


class ActionRows:
    """Turns a row's cells into an item of ``actions_record``, by the columns the header named.

    One object per file, so the positions are looked up once, not per row (a million rows)."""

    def __init__(self, positions: dict[str, int]):
        self.user, self.kpi = positions["user"], positions["kpi"]
        self.value, self.occurred_at = positions["value"], positions["occurred_at"]
        self.external_id, self.comment = positions.get("external_id"), positions.get("comment")
        self.width = max(positions.values()) + 1

    def item(self, cells: list) -> dict:
        """The item; ``occurred_at`` None when the cell is empty (absent optional cells left out)."""
        if len(cells) < self.width:
            cells = [*cells, *([None] * (self.width - len(cells)))]
        item = {
            "user": text_cell(cells[self.user]) or "",
            "kpi": text_cell(cells[self.kpi]) or "",
            "occurred_at": moment_cell(cells[self.occurred_at]),
        }
        value = value_cell(cells[self.value])
        if value is not None:
            item["value"] = value  # absent: the service reports it as required
        if self.external_id is not None and (external_id := text_cell(cells[self.external_id])):
            item["external_id"] = external_id
        if self.comment is not None and (comment := text_cell(cells[self.comment])):
            item["comment"] = comment
        return item


def required_message() -> str:
    return _("This field is required.")
