"""JSON in, refused at the door when it holds a NUL character (API.md: never a 500 for bad input).

PostgreSQL's text cannot store U+0000, and no field of the API means one: any string carrying it,
as a value or a key, anywhere in the body, makes the whole body a 400 ``parse_error``, before any
view or service sees it (a service would otherwise fail deep in a query, on PostgreSQL only).
"""

from django.utils.translation import gettext_lazy as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        if _has_nul(data):
            raise ParseError(_("The JSON body contains a NUL character (\\u0000), which no field accepts."))
        return data
