"""Whole numbers from outside: ids in a path, a query string or a filter, and how far a list is paged
(issue 17).

``str.isdigit`` takes digits of other scripts ("²", "٣") that ``int`` then refuses or converts,
and a number past bigint overflows the database: a 500 either way. These take ASCII digits only,
bounded; anything else is ``None``, which a caller reads as "no such row" or refuses.
"""

import re

MAX_ID = 2**63 - 1  # BigAutoField
MAX_OFFSET = 1_000_000_000  # rows into a list: more than any company has, well inside bigint
_DIGITS = re.compile(r"[0-9]{1,19}")


def parse_whole(text, *, maximum: int) -> int | None:
    """A whole number from 0 to ``maximum`` written in ASCII digits, else None."""
    if isinstance(text, str) and _DIGITS.fullmatch(text):
        value = int(text)
        if value <= maximum:
            return value
    return None


def parse_id(text) -> int | None:
    """An id (1 to ``MAX_ID``) written in ASCII digits, else None: no row has it."""
    return parse_whole(text, maximum=MAX_ID) or None
