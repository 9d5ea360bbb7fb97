"""The formula escape of every export (PRODUCT I3, I4): the KPI and unit files and the exports of
``integrations.exports``."""

from decimal import Decimal

import pytest

from kpi_platform.cells import escape_formula, unescape_formula


@pytest.mark.parametrize("text", ["=1+1", "+7", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_escape_formula_makes_formula_text_inert(text):
    assert escape_formula(text) == "'" + text


@pytest.mark.parametrize("value", ["plain", "", "a=b", None, -5, Decimal("-1.50"), 2.5])
def test_escape_formula_leaves_other_values_unchanged(value):
    assert escape_formula(value) == value


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_formula_escaping_round_trips(value):
    assert escape_formula(value) == "'" + value
    assert unescape_formula(escape_formula(value)) == value


@pytest.mark.parametrize("value", ["Calls", "it's", "'quoted'", "", "a=b"])
def test_ordinary_text_is_left_alone(value):
    assert escape_formula(value) == value
    assert unescape_formula(value) == value
