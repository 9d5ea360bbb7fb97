"""A keyset cursor for lists that grow while they are read (API.md "Actions": cursor pagination).

DRF's ``CursorPagination`` positions by the first ordering field alone, plus an offset among the
rows that share its value, capped at 1,000: past 1,000 actions at one time (a batch posted without
``occurred_at``) its ``next`` stayed the same for ever. ``KeysetPagination`` positions by every
ordering field, the last of which is unique (``("-occurred_at", "-id")``): a page is the rows
strictly after the last row shown (going back, strictly before the first), so each row comes
exactly once and in order whatever the ties, and rows recorded between two pages never shift it
(one that sorts before the cursor's place is not shown, one after it is shown once).

The cursor is opaque: URL-safe base64 of ``["n" | "p", [the position's values]]``. Anything else is
refused, 400 ``invalid`` on ``cursor``. The answer keeps DRF's shape, ``{"next", "previous",
"results"}``, and its schema.
"""

import base64
import binascii
import datetime
import json

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.pagination import CursorPagination
from rest_framework.utils.urls import replace_query_param

from kpi_platform.errors import CommonErrorCode, DomainError

_NEXT, _PREVIOUS = "n", "p"
_MAX_CURSOR = 200  # characters: a position is a few values
_BIGINT = 2**63


class KeysetPagination(CursorPagination):
    """Set ``ordering`` (``"-field"`` descending), its last field unique, and ``page_size``,
    ``page_size_query_param`` and ``max_page_size`` as for DRF's cursor."""

    ordering: tuple[str, ...] = ("-id",)

    def paginate_queryset(self, queryset: QuerySet, request, view=None) -> list[Model]:
        self.request = request
        self.page_size = self.get_page_size(request)
        self.base_url = request.build_absolute_uri()
        direction, position = self._decode(request.query_params.get(self.cursor_query_param), queryset.model)
        backwards = direction == _PREVIOUS
        ordering = [_reversed(name) for name in self.ordering] if backwards else list(self.ordering)
        rows = queryset.order_by(*ordering)
        if position is not None:
            rows = rows.filter(_beyond(ordering, position))
        page = list(rows[: self.page_size + 1])
        more = len(page) > self.page_size
        page = page[: self.page_size]
        if backwards:
            page.reverse()
        self.page = page
        # Going forward, a cursor means there was a page before; going back, one after.
        self.has_next = True if backwards else more
        self.has_previous = more if backwards else position is not None
        return page

    def get_next_link(self) -> str | None:
        if not (self.has_next and self.page):
            return None
        return self._link(_NEXT, self.page[-1])

    def get_previous_link(self) -> str | None:
        if not (self.has_previous and self.page):
            return None
        return self._link(_PREVIOUS, self.page[0])

    def _link(self, direction: str, row: Model) -> str:
        values = [_json_value(getattr(row, name.lstrip("-"))) for name in self.ordering]
        text = json.dumps([direction, values], separators=(",", ":"))
        cursor = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
        return replace_query_param(self.base_url, self.cursor_query_param, cursor)

    def _decode(self, cursor: str | None, model: type[Model]) -> tuple[str, list | None]:
        if cursor is None:
            return _NEXT, None
        try:
            if len(cursor) > _MAX_CURSOR:
                raise ValueError(cursor)
            text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            direction, values = json.loads(text)
            if direction not in (_NEXT, _PREVIOUS) or len(values) != len(self.ordering):
                raise ValueError(cursor)
            position = [
                _position_value(model._meta.get_field(name.lstrip("-")), value)
                for name, value in zip(self.ordering, values, strict=True)
            ]
        except (ValueError, TypeError, OverflowError, binascii.Error, DjangoValidationError):
            raise DomainError(
                CommonErrorCode.INVALID,
                _("This cursor is not one this list gave; start again without it."),
                field="cursor",
            ) from None
        return direction, position


def _reversed(name: str) -> str:
    return name[1:] if name.startswith("-") else f"-{name}"


def _beyond(ordering: list[str], position: list) -> Q:
    """The rows after ``position`` in ``ordering``: (a, b) after (x, y) is a past x, or a = x and
    b past y (written out, as SQLite and every planner read it alike)."""
    condition, equal = Q(), {}
    for name, value in zip(ordering, position, strict=True):
        field = name.lstrip("-")
        condition |= Q(**equal, **{f"{field}__{'lt' if name.startswith('-') else 'gt'}": value})
        equal[field] = value
    return condition


def _json_value(value):
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return value


def _position_value(field, value):
    """A value of the cursor as the field holds it; anything the database could not compare
    (another type, a naive or unrepresentable time, an integer beyond bigint) is refused."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TypeError(value)
    parsed = field.to_python(value)
    if isinstance(parsed, datetime.datetime):
        if not isinstance(value, str) or timezone.is_naive(parsed):
            raise TypeError(value)
        parsed.astimezone(datetime.UTC)  # OverflowError at the calendar's edges
    elif isinstance(parsed, int) and not -_BIGINT <= parsed < _BIGINT:
        raise OverflowError(value)
    return parsed
