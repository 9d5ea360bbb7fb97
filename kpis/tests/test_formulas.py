"""Formulas of calculated KPIs (PRODUCT K11, issue 16): parsing, evaluation, names and cycles.

Pure: no database. Figures are ``Decimal``; ``D`` keeps the tables short.
"""

from decimal import Decimal as D

import pytest

from kpi_platform.errors import DomainError
from kpis.errors import KpiErrorCode
from kpis.formulas import (
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_PARTS,
    Formula,
    evaluate_all,
    evaluation_order,
    formula_errors,
    parse_formula,
)


def refusal(text: str) -> DomainError:
    with pytest.raises(DomainError) as caught:
        parse_formula(text)
    return caught.value


# --- Evaluation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "figures", "expected"),
    [
        pytest.param("1 + 2 * 3", {}, D(7), id="multiplication-before-addition"),
        pytest.param("(1 + 2) * 3", {}, D(9), id="parentheses-first"),
        pytest.param("10 / 4", {}, D("2.5"), id="division-is-not-integer"),
        pytest.param("10 - 4 - 3", {}, D(3), id="subtraction-leftwards"),
        pytest.param("24 / 4 / 2", {}, D(3), id="division-leftwards"),
        pytest.param("-a + b", {"a": D(2), "b": D(5)}, D(3), id="unary-minus-binds-tighter"),
        pytest.param("a - -b", {"a": D(2), "b": D(5)}, D(7), id="minus-a-negative"),
        pytest.param("-(a + b)", {"a": D(2), "b": D(5)}, D(-7), id="negated-group"),
        pytest.param("+a", {"a": D(2)}, D(2), id="unary-plus"),
        pytest.param("(a + b) / 2", {"a": D(3), "b": D(4)}, D("3.5"), id="mean-of-two"),
        pytest.param("((a))", {"a": D(4)}, D(4), id="redundant-parentheses"),
        pytest.param(
            "revenue - costs", {"revenue": D("100.50"), "costs": D("40.25")}, D("60.25"), id="margin"
        ),
        pytest.param("0.1 + 0.2", {}, D("0.3"), id="decimals-exact"),
        pytest.param("a * 0.1", {"a": D(3)}, D("0.3"), id="decimal-literal-exact"),
        pytest.param(
            "2nd + if * None", {"2nd": D(1), "if": D(2), "None": D(3)}, D(7), id="digit-and-keyword-names"
        ),
        pytest.param("lambda + not", {"lambda": D(1), "not": D(2)}, D(3), id="more-keyword-names"),
        pytest.param("1e3 + 1_000", {"1e3": D(1), "1_000": D(2)}, D(3), id="number-like-words-are-names"),
        pytest.param("Leads * 2", {"leads": D(4)}, D(8), id="names-ignore-case"),
        pytest.param("leads * 2", {"LEADS": D(4)}, D(8), id="figures-ignore-case"),
    ],
)
def test_a_formula_evaluates_with_decimal_arithmetic_and_the_usual_precedence(text, figures, expected):
    # when
    value = parse_formula(text).evaluate(figures)

    # then
    assert value == expected
    assert isinstance(value, D)


@pytest.mark.parametrize(
    ("text", "figures"),
    [
        pytest.param("a / b", {"a": D(1), "b": D(0)}, id="division-by-zero"),
        pytest.param("a / (b - b)", {"a": D(1), "b": D(2)}, id="division-by-a-zero-result"),
        pytest.param("0 / 0", {}, id="zero-by-zero"),
        pytest.param("(a / 0) * 0 + 1", {"a": D(1)}, id="no-value-propagates"),
        pytest.param("a + b", {"a": D(1), "b": None}, id="a-figure-is-none"),
        pytest.param("a + b", {"a": D(1)}, id="a-figure-is-missing"),
        pytest.param("a * 0", {"a": None}, id="none-even-times-zero"),
    ],
)
def test_a_formula_has_no_value_on_division_by_zero_or_a_missing_figure(text, figures):
    assert parse_formula(text).evaluate(figures) is None


def test_a_conversion_rate_is_the_ratio_of_the_company_figures():
    # given the company's figures: 30 deals closed of 120 leads (say, 1/1 and 29/119 of two people,
    # whose mean rate would be 62 %)
    formula = parse_formula("deals_closed / leads * 100")

    # when
    value = formula.evaluate({"deals_closed": D(30), "leads": D(120), "other": D(5)})

    # then
    assert value == D(25)


def test_a_result_is_not_rounded():
    assert parse_formula("1 / 3").evaluate({}) == D(1) / D(3)


# --- Parsing: what a formula is ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "normal", "names"),
    [
        ("won_deals/leads*100", "won_deals / leads * 100", {"won_deals", "leads"}),
        ("  (a + b)\n/ 2 ", "(a + b) / 2", {"a", "b"}),
        ("((a * b)) + c", "a * b + c", {"a", "b", "c"}),
        ("a - (b - c)", "a - (b - c)", {"a", "b", "c"}),
        ("Leads + leads + 007", "Leads + leads + 007", {"leads"}),
        ("- -a", "--a", {"a"}),
        ("1 + 2", "1 + 2", set()),
    ],
)
def test_a_formula_knows_its_normal_text_and_the_names_it_uses(text, normal, names):
    # when
    formula = parse_formula(text)

    # then
    assert (formula.text, formula.names) == (normal, frozenset(names))
    assert parse_formula(formula.text) == formula


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param(" \n\t", "empty", id="blank"),
        pytest.param("round(a)", "Functions", id="call"),
        pytest.param("2(a)", "Functions", id="implicit-multiplication"),
        pytest.param("a.b", "decimal point", id="attribute"),
        pytest.param("a.b(c)", "Functions", id="method-call-outermost"),
        pytest.param("1.5.2", "decimal point", id="two-decimal-points"),
        pytest.param("a ** 2", "“**”", id="power"),
        pytest.param("a // 2", "“//”", id="floor-division"),
        pytest.param("a % 2", "“%”", id="modulo"),
        pytest.param("a @ b", "“@”", id="matmul"),
        pytest.param("a | b", "“|”", id="bitwise-or"),
        pytest.param("~a", "“~”", id="invert"),
        pytest.param("a < b", "Comparisons", id="comparison"),
        pytest.param("a == b", "Comparisons", id="equality"),
        pytest.param("'text'", "quotes", id="string"),
        pytest.param('"a" + b', "quotes", id="double-quoted-string"),
        pytest.param("a[0]", "Square brackets", id="subscript"),
        pytest.param("[a]", "Lists", id="list"),
        pytest.param("a, b", "Lists", id="tuple"),
        pytest.param("{a}", "Lists", id="set"),
        pytest.param("...", "Only KPI names", id="ellipsis"),
        pytest.param("lambda x: x", "character 8", id="lambda"),
        pytest.param("(a := 1)", "Assignments", id="walrus"),
        pytest.param("a = 1", "character 3", id="assignment"),
        pytest.param("a if b else c", "character 3", id="conditional"),
        pytest.param("a b", "character 3: “b”", id="two-names"),
        pytest.param("a +", "ends unexpectedly", id="dangling-operator"),
        pytest.param("(a + b", "“(” at character 1 is never closed", id="unclosed-paren"),
        pytest.param("a + b)", "“)” at character 6 has no matching", id="unmatched-paren"),
        pytest.param("a # b", "“#”", id="comment"),
        pytest.param("a + \\\nb", "“\\”", id="backslash"),
        pytest.param("a; b", "“;”", id="semicolon"),
        pytest.param("лиды + a", "“л”", id="non-latin-name"),
        pytest.param("a" * (MAX_LENGTH + 1), f"at most {MAX_LENGTH} characters", id="too-long"),
        pytest.param("(a+b+c)*" * 51 + "a", f"at most {MAX_PARTS} numbers", id="too-many-parts"),
        pytest.param("-" * MAX_DEPTH + "a", "nested too deeply", id="too-deep-signs"),
        pytest.param(
            "(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1), "nested too deeply", id="too-deep-parens"
        ),
        pytest.param("+".join("a" * (MAX_DEPTH + 1)), "nested too deeply", id="too-deep-sum"),
    ],
)
def test_a_formula_other_than_names_numbers_and_arithmetic_is_refused_with_the_reason(text, reason):
    # when
    error = refusal(text)

    # then
    assert (error.code, error.field) == (KpiErrorCode.FORMULA_INVALID, "formula")
    assert reason in error.message


def test_the_limits_are_limits_not_less():
    # given formulas just within each limit
    longest = "a" * MAX_LENGTH
    deepest = "-" * (MAX_DEPTH - 1) + "a"
    sum_of_many = "+".join("a" * MAX_DEPTH)
    most_parentheses = "(" * MAX_DEPTH + "a" + ")" * MAX_DEPTH

    # then they parse
    assert [parse_formula(text).names for text in (longest, deepest, sum_of_many, most_parentheses)] == [
        frozenset([longest]),
        frozenset("a"),
        frozenset("a"),
        frozenset("a"),
    ]


def test_a_formula_is_a_value():
    assert parse_formula("a+b") == parse_formula("(a) + (b)")
    assert isinstance(parse_formula("a"), Formula)
    assert parse_formula("a - b") != parse_formula("b - a")


# --- Names and cycles in the company -------------------------------------------------------------------

# The company: plain KPIs leads, won_deals, revenue, costs and the archived old_calls; calculated
# margin (revenue - costs) and margin_rate (margin / revenue * 100).
COMPANY = {
    "leads": None,
    "won_deals": None,
    "Revenue": None,
    "costs": None,
    "old_calls": None,
    "margin": "revenue - costs",
    "margin_rate": "margin / revenue * 100",
}
USABLE = [name for name in COMPANY if name != "old_calls"]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        pytest.param("conversion", "won_deals / leads * 100", id="plain-kpis"),
        pytest.param("conversion", "WON_DEALS / Leads * 100", id="any-case"),
        pytest.param("margin_share", "margin_rate / 100", id="a-calculated-kpi-not-on-a-cycle"),
        pytest.param("margin", "revenue - costs - 1", id="changing-a-formula-others-use"),
        pytest.param("leads", "won_deals * 4", id="a-plain-kpi-made-calculated"),
        pytest.param("constant", "100", id="no-names"),
    ],
)
def test_a_formula_over_usable_kpis_without_a_cycle_is_accepted(name, text):
    assert formula_errors(name, text, COMPANY, USABLE) == []


@pytest.mark.parametrize(
    ("name", "text", "messages"),
    [
        pytest.param("conversion", "deals / leads", ["There is no KPI “deals”."], id="unknown"),
        pytest.param("conversion", "Deals / leads", ["There is no KPI “Deals”."], id="unknown-as-written"),
        pytest.param("calls_rate", "old_calls / leads", ["The KPI “old_calls” is archived."], id="archived"),
        pytest.param(
            "x",
            "b + a + old_calls",
            ["There is no KPI “a”.", "There is no KPI “b”.", "The KPI “old_calls” is archived."],
            id="every-name-reported-in-order",
        ),
        pytest.param("leads", "leads * 2", ["A formula cannot name its own KPI “leads”."], id="itself"),
        pytest.param(
            "Leads", "leads * 2", ["A formula cannot name its own KPI “Leads”."], id="itself-any-case"
        ),
        pytest.param(
            "revenue",
            "margin + costs",
            ["The formula makes a cycle: revenue → margin → revenue."],
            id="two-long-cycle",
        ),
        pytest.param(
            "costs",
            "margin_rate",
            ["The formula makes a cycle: costs → margin_rate → margin → costs."],
            id="three-long-cycle",
        ),
        pytest.param("z", "a +", ["The formula ends unexpectedly."], id="syntax-alone"),
    ],
)
def test_a_formula_naming_unknown_archived_or_itself_or_making_a_cycle_is_refused(name, text, messages):
    # when
    errors = formula_errors(name, text, COMPANY, USABLE)

    # then
    assert [(error.code, error.field) for error in errors] == [
        (KpiErrorCode.FORMULA_INVALID, "formula")
    ] * len(messages)
    assert [error.message for error in errors] == messages


def test_a_formula_naming_a_kpi_on_an_old_cycle_is_refused():
    # given stored formulas that loop (data from before the check)
    company = {"a": "b", "b": "a", "c": None}

    # when
    errors = formula_errors("c", "a + 1", company, ["a", "b", "c"])

    # then
    assert [error.message for error in errors] == ["The formula names a KPI on a cycle: a → b → a."]


# --- Evaluating the company's calculated KPIs ----------------------------------------------------------


@pytest.mark.parametrize(
    ("formulas", "order"),
    [
        pytest.param(COMPANY, ["margin", "margin_rate"], id="a-chain"),
        pytest.param(
            {"c": "b * 2", "b": "a + 1", "a": None, "d": "c + b"}, ["b", "c", "d"], id="after-what-it-names"
        ),
        pytest.param({"z": "x", "y": "x", "x": None}, ["y", "z"], id="ties-alphabetical"),
        pytest.param({"C": "b", "B": "a", "a": None}, ["B", "C"], id="names-as-given-any-case"),
        pytest.param(
            {"a": "b", "b": "a", "c": "a", "d": "1"}, ["d"], id="cycles-and-what-names-them-left-out"
        ),
        pytest.param({"a": None, "b": None}, [], id="no-calculated-kpis"),
    ],
)
def test_calculated_kpis_are_ordered_after_the_calculated_kpis_they_name(formulas, order):
    assert evaluation_order(formulas) == order


def test_a_chain_of_calculated_kpis_is_evaluated_in_order():
    # given the plain KPIs' figures, and a stale figure for a calculated one
    figures = {"revenue": D(200), "costs": D(150), "leads": D(120), "won_deals": None, "margin_rate": D(1)}

    # when
    result = evaluate_all(COMPANY, figures)

    # then margin_rate sees margin's value
    assert result == {
        "revenue": D(200),
        "costs": D(150),
        "leads": D(120),
        "won_deals": None,
        "margin": D(50),
        "margin_rate": D(25),
    }


def test_calculated_kpis_without_a_value_are_none():
    # given a cycle, a stored formula that does not parse, a division by zero and what follows them
    formulas = {
        "a": "b",
        "b": "a",
        "broken": "a +",
        "rate": "x / y",
        "after": "rate + 1",
        "x": None,
        "y": None,
    }

    # when
    result = evaluate_all(formulas, {"x": D(1), "y": D(0)})

    # then
    assert result == {"x": D(1), "y": D(0), "a": None, "b": None, "broken": None, "rate": None, "after": None}
