"""Numbers of KPIs on pages: in the reader's locale, grouped, without trailing zeros."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

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


@register.filter
def figure(value) -> str:
    """A KPI's figure (K11): ``number``, or an em dash where there is no value (an average of no
    actions, a formula dividing by zero)."""
    return "—" if value is None else number(value)


@register.filter
def rounded(value, whole) -> str:
    """``number`` for a share pro-rated from a target (K9, D3). Of a KPI counted in whole numbers
    (``whole``) it is rounded half up: 30 contracts a month expect "1" on the first day, not
    "0.98"; a share that is not zero but rounds to it shows as "< 1" rather than as no target.
    Only the display: the calculations keep the exact share."""
    if not whole or value is None or value == "":
        return number(value)
    exact = Decimal(value)
    shown = exact.quantize(Decimal(1), rounding=ROUND_HALF_UP)
    if not shown and exact > 0:
        return "< 1"
    return number(shown)


@register.filter
def percent(value) -> str:
    """A whole percentage, or an em dash when there is none."""
    return "—" if value is None else f"{Decimal(value):.0f}%"
