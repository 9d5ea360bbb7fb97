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


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("x;=cmd|' /C calc'!A0", "x;'=cmd|' /C calc'!A0"),
        ("x,=cmd", "x,'=cmd"),
        ("x\t@SUM(A1)", "x\t'@SUM(A1)"),
        ("x\n+1", "x\n'+1"),
        ("x; -1", "x; '-1"),
        ("a\t\t=b", "a\t'\t'=b"),
        ("'=already", "''=already"),
        ("a,'=b", "a,''=b"),
    ],
)
def test_escape_formula_guards_every_part_a_list_separator_would_split_off(text, escaped):
    """issue 17: a spreadsheet splits csv cells by its locale's list separator (``;`` in Russian),
    so ``x;=cmd|' /C calc'!A0`` hid a formula after the separator. Every such part is escaped, and
    the escape still round-trips exactly."""
    assert escape_formula(text) == escaped
    assert unescape_formula(escaped) == text


@pytest.mark.parametrize("value", ["a, b-c", "x;y", "it's; fine", "a=b,c"])
def test_separators_without_a_formula_after_them_are_left_alone(value):
    assert escape_formula(value) == value
    assert unescape_formula(value) == value
