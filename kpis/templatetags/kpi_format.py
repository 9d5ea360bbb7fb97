"""Numbers of KPIs on pages: in the reader's locale, grouped, without trailing zeros."""

from decimal import Decimal, InvalidOperation

from django import template
from django.utils import formats

register = template.Library()


@register.filter
def number(value) -> str:
    """``Decimal("40000000.00")`` → "40,000,000" (ru: "40 000 000"); ``Decimal("0.50")`` → "0.5"."""
    if value is None or value == "":
        return ""
    try:
        value = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return str(value)
    # normalize() alone would write 10 as 1E+1.
    value = value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()
    return formats.number_format(value, use_l10n=True, force_grouping=True)
