"""Amounts with at most two decimal places (values, ratios, targets), read the same way everywhere:
the API, imports, the activity logger and the admin all hand the text they were given to
``parse_cents``."""

import re
from decimal import Decimal

CENT = Decimal("0.01")

# ASCII digits only: ``Decimal()`` also reads "-0", "1_000", "1e2", "٣" and "１" (issue 17).
_CENTS = re.compile(r"[0-9]+(\.[0-9]{1,2})?")


def cents_text(value) -> str | None:
    """``value`` as the text ``parse_cents`` reads: a Decimal or a number in plain notation
    (``Decimal("1E+2")`` is "100"), text trimmed; None for anything else."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else None
    if isinstance(value, int | float | str):
        return str(value).strip()
    return None


def parse_cents(value, *, maximum: Decimal, positive: bool = False) -> Decimal | None:
    """``value`` (a number or its text) as a Decimal with two places, or None unless it is
    ``^[0-9]+(\\.[0-9]{1,2})?$`` (after trimming), at most ``maximum`` (> 0 with ``positive``).

    A float or Decimal counts by its plain decimal notation (``2.5`` is "2.5"), so a JSON number
    or a spreadsheet's number cell reads like the same number typed as text."""
    text = cents_text(value)
    if text is None or not _CENTS.fullmatch(text):
        return None
    number = Decimal(text)
    if (positive and number == 0) or number > maximum:
        return None
    return number.quantize(CENT)
