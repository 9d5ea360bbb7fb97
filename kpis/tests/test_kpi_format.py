"""Issue 18 (8): a page's numbers are written in the reader's locale, the same as Django's own
``number_format`` writes them: the fast path (Python's grouping by threes) gives the same text."""

import random
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.conf import settings
from django.utils import formats, translation

from kpis.templatetags.kpi_format import amount, localized


def _numbers(seed: int) -> list[Decimal]:
    rng = random.Random(seed)
    some = [Decimal(rng.randrange(-(10**15), 10**15)).scaleb(-rng.randrange(0, 7)) for _ in range(400)]
    return [*some, Decimal(0), Decimal("-0.004"), Decimal("0.005"), Decimal("999.995"), Decimal("-999999.5")]


@pytest.mark.parametrize("language", [code for code, _name in settings.LANGUAGES] + ["de", "zh-hans"])
def test_a_number_reads_as_djangos_number_format_writes_it_in_each_language(language):
    # given numbers of every size and sign, in a language grouping by threes (zh: by fours, the
    # slower path), with a comma, a space or a point between groups
    with translation.override(language):
        for number in _numbers(seed=len(language)):
            for decimals in range(5):
                exact = number.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
                # when it is shown, then it reads as Django writes it
                expected = formats.number_format(
                    exact, decimal_pos=decimals, use_l10n=True, force_grouping=True
                )
                assert localized(number, decimals) == expected, (language, number, decimals)


def test_the_separators_are_the_readers():
    with translation.override("ru"):
        assert amount(Decimal("4552511.945"), 2) == "4\xa0552\xa0511,95"
    with translation.override("en"):
        assert amount(Decimal("-4552511.945"), 2) == "-4,552,511.95"
