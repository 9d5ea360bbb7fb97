"""JSON in, refused at the door when no field could take it (API.md: never a 500 for bad input).

Three things in a body that is valid JSON still fail deep in a view or a query, so they are
refused here, once for every JSON endpoint, before any view or service sees the body:

- a NUL character (U+0000): PostgreSQL's text cannot store it, and no field of the API means
  one. Any string carrying it, as a value or a key, makes the whole body a 400 ``parse_error``;
- nesting deeper than ``MAX_DEPTH``: no field nests half as deep, and the decoder, the checks
  and the serializers all recurse (issue 17: ``"[" * 900`` was a ``RecursionError``). Also
  ``parse_error``;
- a lone surrogate (``"\\ud800"``, which JSON's escapes allow): not a character, so UTF-8 and
  PostgreSQL cannot encode it. It is ``invalid``, naming the field (the keys that lead to it,
  dotted, as DRF's errors name nested fields) and, in a batch, the item's index (issue 17).
"""

import re

from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from kpi_platform.errors import CommonErrorCode, DomainError

MAX_DEPTH = 16  # a batch of objects with localized names is three levels

_SURROGATE = re.compile("[\ud800-\udfff]")


def _nul_or_surrogate(text: str) -> bool:
    return "\x00" in text or _SURROGATE.search(text) is not None


def _check(data) -> None:
    """Walks the body without recursing (its depth is what may be hostile)."""
    surrogates: list[DomainError] = []
    stack = [(data, (), None, 1)]
    while stack:
        value, path, index, depth = stack.pop()
        if isinstance(value, str):
            texts, children = [value], []
        elif isinstance(value, dict):
            texts = list(value)
            children = [(item, (*path, str(key))) for key, item in value.items()]
        elif isinstance(value, list):
            texts, children = [], [(item, path) for item in value]
        else:
            continue
        for text in texts:
            if not isinstance(text, str) or not _nul_or_surrogate(text):
                continue
            if "\x00" in text:
                raise ParseError(
                    _("The JSON body contains a NUL character (\\u0000), which no field accepts.")
                )
            message = _("The text holds a lone surrogate (\\ud800–\\udfff), which is not a character.")
            surrogates.append(
                DomainError(CommonErrorCode.INVALID, message, field=".".join(path) or None, index=index)
            )
        if children and depth >= MAX_DEPTH:
            raise ParseError(
                _("The JSON body is nested more than %(depth)d levels deep.") % {"depth": MAX_DEPTH}
            )
        top_list = depth == 1 and isinstance(value, list)
        for position, (item, item_path) in reversed(list(enumerate(children))):
            stack.append((item, item_path, position if top_list else index, depth + 1))
    if surrogates:
        raise DomainError.many(surrogates)


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as error:
            raise ParseError(
                _("The JSON body is nested more than %(depth)d levels deep.") % {"depth": MAX_DEPTH}
            ) from error
        _check(data)
        return data
