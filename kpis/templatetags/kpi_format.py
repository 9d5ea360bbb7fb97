"""Numbers of KPIs on pages, in reports and e-mails: in the reader's locale, grouped, each with the
same number of decimals wherever it appears (issue 18, item 8).

One rule: a KPI's figures and targets show the KPI's decimals (``Kpi.decimals``: none for a count,
two for money, averages and rates, else its unit's), and points always show two. A number never
looks rounder than it is: a share of a target that has cents (a week's part of a monthly target of
17 contracts, 3.91) shows its two decimals rather than "4", which would read as "4 of 4 = 102 %".
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from django import template
from django.utils import formats, translation

from kpis.numbers import shown_decimals

register = template.Library()


def _decimal(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return None


def localized(value: Decimal, decimals: int) -> str:
    """``value`` rounded half up to ``decimals`` places, grouped in the active language: 4552511.94
    → "4,552,511.94" (ru: "4 552 511,94"). A page shows a thousand of them (a company's KPIs by
    department): Python's own grouping by threes with the language's separators put in, the same
    text as ``formats.number_format`` at half its cost, which stays for other groupings."""
    exact = value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    separators = _separators(translation.get_language())
    if separators is None:
        return formats.number_format(exact, decimal_pos=decimals, use_l10n=True, force_grouping=True)
    # As Django does, a value that rounds to zero is 0, never "-0.00".
    return f"{abs(exact) if exact.is_zero() else exact:,.{decimals}f}".translate(separators)


@lru_cache(maxsize=32)
def _separators(language: str | None) -> dict[int, str] | None:
    """The language's decimal and thousand separators, as a ``str.translate`` table of Python's
    ("." and ","), where it groups by threes (None: another grouping, or no language active)."""
    if language is None or formats.get_format("NUMBER_GROUPING", language, use_l10n=True) != 3:
        return None
    return {
        ord("."): formats.get_format("DECIMAL_SEPARATOR", language, use_l10n=True),
        ord(","): formats.get_format("THOUSAND_SEPARATOR", language, use_l10n=True),
    }


@register.filter
def amount(value, decimals=2) -> str:
    """A KPI's figure or target with the KPI's decimals (``{{ figure.total|amount:figure.kpi.decimals }}``),
    or an em dash where there is no value (an average of no actions, a formula dividing by zero)."""
    number = _decimal(value)
    if number is None:
        return "—"
    decimals = int(decimals)
    return localized(number, shown_decimals(number, decimals))


@register.filter
def points(value) -> str:
    """Rating points (R2): always two decimals."""
    number = _decimal(value)
    return "—" if number is None else localized(number, 2)


@register.filter
def number(value) -> str:
    """A number as it is stored, grouped in the reader's locale (a ratio's "0.5"): trailing zeros
    dropped. Figures, targets and points have their own filters above."""
    number = _decimal(value)
    if number is None:
        return "" if value is None or value == "" else str(value)
    # normalize() alone would write 10 as 1E+1.
    number = number.quantize(Decimal(1)) if number == number.to_integral_value() else number.normalize()
    return formats.number_format(number, use_l10n=True, force_grouping=True)


@register.filter
def figure(value) -> str:
    """A value already rounded to its KPI's decimals (``pages.selectors.breakdown``), with
    exactly those decimals; an em dash where there is no value."""
    number = _decimal(value)
    if number is None:
        return "—"
    return localized(number, max(0, -number.as_tuple().exponent))


@register.filter
def percent(value) -> str:
    """A whole percentage, or an em dash when there is none."""
    return "—" if value is None else f"{Decimal(value):.0f}%"
