"""Formulas of calculated KPIs (PRODUCT K11, issue 16): ``won_deals / leads * 100``.

A formula is arithmetic over the figures of other KPIs of the company, named by their integration
names, for the same scope and period. Allowed: KPI names, numbers, ``+ - * /``, a sign (``-a``,
``+a``) and parentheses, with the usual precedence. Nothing else: no functions, attributes,
indexing, powers, ``//``, ``%``, comparisons or text.

*Names.* An integration name is ``[A-Za-z0-9_]+`` (``kpis.services.INTEGRATION_NAME``), so it may
start with a digit (``2nd``) or be a Python keyword (``if``, ``None``). Python's parser cannot read
those, so this module tokenizes the text itself and hands ``ast`` a placeholder for every name and
number; ``ast`` only brings the grammar and precedence, and a whitelist of node types keeps
everything else out (the issue: "``ast`` with a whitelist, never ``eval``"). A word of digits only
(``100``) is a number, every other word (``1e3``, ``1_000``, ``2nd``) is a name; numbers are written
``100`` or ``0.25``. Names match as integration names do everywhere else in the platform: ignoring
case (``Leads`` is ``leads``).

*Figures.* Numbers are ``Decimal`` read from their source text, so ``0.1 + 0.2`` is exactly ``0.3``.
A formula has no value (``None``) when a KPI it names has none, and on division by zero (K11: "no
value on division by zero"). Results are not rounded: the caller rounds, as for any figure.

*Other calculated KPIs.* A formula may name another calculated KPI (``margin / revenue`` where
``margin = revenue - costs``) as long as no chain of formulas leads back to itself: the issue allows
an Active calculated KPI "when every KPI it names exists, is not archived and is not itself
calculated from it (no cycles)". ``evaluation_order`` and ``evaluate_all`` evaluate such chains.

Pure functions of their arguments: no database access.
"""

import ast
import heapq
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from decimal import Context, Decimal, localcontext

from django.utils.translation import gettext as _

from kpi_platform.errors import DomainError
from kpis.errors import KpiErrorCode

# A hostile formula must not hang or recurse the server: these bound the parser's, the checks' and
# the evaluation's work. 100 levels still take a sum of 100 KPIs (``a + b + ...`` nests leftwards).
MAX_LENGTH = 500
MAX_DEPTH = 100
MAX_PARTS = 200

# 28 digits, Decimal's default, whatever the thread's context has been set to.
_CONTEXT = Context(prec=28)

_TOKEN = re.compile(
    r"(?P<space>\s+)"
    r"|(?P<decimal>[0-9]+\.[0-9]+)(?![A-Za-z0-9_])"
    r"|(?P<word>[A-Za-z0-9_]+)"
    r"|(?P<char>.)",
    re.DOTALL,
)
_DIGITS = re.compile(r"[0-9]+")
_WORD = re.compile(r"[A-Za-z0-9_]+")
# Characters Python reads as something this module refuses by name (an attribute, a comparison...),
# passed to ``ast`` for that clearer message. Any other character (``#`` would start a comment that
# hides the rest, ``\\`` a continuation, quotes text) is refused before ``ast`` sees the formula.
_PASSED_CHARS = frozenset("+-*/()" + ".,[]{}<>=!%&|^~:@")
_PLACEHOLDER = re.compile(r"_[kc][0-9]+")

_OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_REFUSED_OPERATORS = {
    ast.Pow: "**",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.MatMult: "@",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.Invert: "~",
    ast.Not: "not",
}


# --- The expression tree ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Number:
    value: Decimal


@dataclass(frozen=True)
class _Name:
    key: str  # the integration name, lowercased


@dataclass(frozen=True)
class _Negate:
    operand: "_Node"


@dataclass(frozen=True)
class _Binary:
    operator: str  # one of "+-*/"
    left: "_Node"
    right: "_Node"


_Node = _Number | _Name | _Negate | _Binary


def _key(integration_name: str) -> str:
    """How the platform matches integration names: ignoring case (a KPI's is unique by
    ``Lower("integration_name")``, and recording actions looks KPIs up by the lowercased name)."""
    return integration_name.lower()


@dataclass(frozen=True)
class Formula:
    """A parsed, valid formula of a calculated KPI (K11). Build it with ``parse_formula``.

    ``text`` is the formula in a normal form (single spaces, no redundant parentheses, names and
    numbers as written); parsing it again gives an equal ``Formula``. ``names`` are the integration
    names it uses, lowercased.
    """

    text: str
    names: frozenset[str]
    expression: _Node = field(repr=False)

    def evaluate(self, figures: Mapping[str, Decimal | None]) -> Decimal | None:
        """The formula's value on ``figures`` (integration name → figure, any case), unrounded.

        ``None`` when a named KPI is missing from ``figures`` or has no figure, and on division by
        zero (K11: "no value"); this never raises for the figures' sake.
        """
        values = {_key(name): figure for name, figure in figures.items() if _key(name) in self.names}
        if any(values.get(name) is None for name in self.names):
            return None
        with localcontext(_CONTEXT):
            return _compute(self.expression, values)


def _compute(node: _Node, values: Mapping[str, Decimal | None]) -> Decimal | None:
    # Recursion is bounded: parse_formula refuses trees deeper than MAX_DEPTH.
    match node:
        case _Number(value):
            return value
        case _Name(key):
            return values[key]
        case _Negate(operand):
            result = _compute(operand, values)
            return None if result is None else -result
        case _Binary(operator, left, right):
            a, b = _compute(left, values), _compute(right, values)
            if a is None or b is None:
                return None
            if operator == "+":
                return a + b
            if operator == "-":
                return a - b
            if operator == "*":
                return a * b
            return None if b == 0 else a / b
    raise TypeError(node)  # pragma: no cover  # the tree holds only the four node types


# --- Parsing ---------------------------------------------------------------------------------------


def _invalid(message: str) -> DomainError:
    return DomainError(KpiErrorCode.FORMULA_INVALID, message, field="formula")


@dataclass
class _Source:
    """The formula as ``ast`` sees it: every name and number a placeholder (``_k0``, ``_c0``)."""

    text: str
    placeholders: dict[str, str]  # placeholder -> the name or number as written
    # (offset in ``text``, offset in the formula) where each token starts, to point at an error
    starts: list[tuple[int, int]]

    def position(self, offset: int) -> int:
        """The 1-based character of the formula at ``offset`` (0-based) of ``text``."""
        original = 0
        for source_start, formula_start in self.starts:
            if source_start > offset:
                break
            original = formula_start
        return original + 1


def _tokenize(formula: str) -> _Source:
    parts: list[str] = []
    placeholders: dict[str, str] = {}
    starts: list[tuple[int, int]] = []
    length = 0
    open_parens: list[int] = []
    for match in _TOKEN.finditer(formula):
        kind, piece, start = match.lastgroup, match.group(), match.start()
        if kind == "space":
            part = " "  # a newline would end the expression; any space is one space
        elif kind == "decimal" or (kind == "word" and _DIGITS.fullmatch(piece)):
            part = f"_c{len(placeholders)}"
            placeholders[part] = piece
        elif kind == "word":
            part = f"_k{len(placeholders)}"
            placeholders[part] = piece
        elif piece in "'\"":
            raise _invalid(_("Text in quotes is not allowed in a formula."))
        elif piece not in _PASSED_CHARS:
            raise _invalid(
                _("“%(char)s” is not allowed in a formula (character %(position)d).")
                % {"char": piece, "position": start + 1}
            )
        else:
            part = piece
            # Checked here rather than by ``ast`` for a clear message, and so that deep parentheses
            # are refused before Python's parser works through them.
            if piece == "(":
                open_parens.append(start)
                if len(open_parens) > MAX_DEPTH:
                    raise _too_deep()
            elif piece == ")":
                if not open_parens:
                    raise _invalid(
                        _("The “)” at character %(position)d has no matching “(”.") % {"position": start + 1}
                    )
                open_parens.pop()
        starts.append((length, start))
        parts.append(part)
        length += len(part)
    if open_parens:
        raise _invalid(
            _("The “(” at character %(position)d is never closed.") % {"position": open_parens[-1] + 1}
        )
    return _Source("".join(parts), placeholders, starts)


def _too_deep() -> DomainError:
    return _invalid(_("The formula is nested too deeply (at most %(depth)d levels).") % {"depth": MAX_DEPTH})


def _refusal(node: ast.AST) -> str | None:
    """Why ``node`` may not be in a formula, or ``None`` when it may."""
    if isinstance(node, ast.Name):
        return None
    if isinstance(node, ast.BinOp | ast.UnaryOp):
        op_type = type(node.op)
        if op_type in _OPERATORS or op_type in (ast.USub, ast.UAdd):
            return None
        return _("The operator “%(operator)s” is not allowed in a formula: use + - * /.") % {
            "operator": _REFUSED_OPERATORS.get(op_type, "?")
        }
    if isinstance(node, ast.Call):
        return _("Functions are not allowed in a formula (write * to multiply).")
    if isinstance(node, ast.Attribute):
        return _("A dot is allowed in a formula only as a decimal point, as in 0.5.")
    if isinstance(node, ast.Subscript):
        return _("Square brackets are not allowed in a formula.")
    if isinstance(node, ast.Compare):
        return _("Comparisons are not allowed in a formula.")
    if isinstance(node, ast.NamedExpr):
        return _("Assignments are not allowed in a formula.")
    if isinstance(node, ast.Tuple | ast.List | ast.Set | ast.Dict):
        return _("Lists are not allowed in a formula: use one expression.")
    return _("Only KPI names, numbers, + - * / and parentheses are allowed in a formula.")


def _check_tree(tree: ast.Expression) -> None:
    """Every node whitelisted, the tree within MAX_PARTS and MAX_DEPTH. Iterative, so that a deep
    tree is refused rather than recursed through; outer nodes first, so the message is about the
    outermost refused construct (``a.b(c)`` is a function)."""
    stack: list[tuple[ast.expr, int]] = [(tree.body, 1)]
    parts = 0
    while stack:
        node, depth = stack.pop()
        reason = _refusal(node)
        if reason is not None:
            raise _invalid(reason)
        parts += 1
        if parts > MAX_PARTS:
            raise _invalid(
                _("The formula is too long (at most %(parts)d numbers, names and operations).")
                % {"parts": MAX_PARTS}
            )
        if depth > MAX_DEPTH:
            raise _too_deep()
        if isinstance(node, ast.BinOp):
            stack.extend([(node.right, depth + 1), (node.left, depth + 1)])
        elif isinstance(node, ast.UnaryOp):
            stack.append((node.operand, depth + 1))


def _build(node: ast.expr, source: _Source) -> _Node:
    # Only the whitelisted nodes reach here (_check_tree), at most MAX_DEPTH deep.
    if isinstance(node, ast.Name):
        written = source.placeholders[node.id]
        if node.id.startswith("_c"):
            return _Number(Decimal(written))
        return _Name(_key(written))
    if isinstance(node, ast.UnaryOp):
        operand = _build(node.operand, source)
        return _Negate(operand) if isinstance(node.op, ast.USub) else operand
    if not isinstance(node, ast.BinOp):  # the whitelist let nothing else through
        raise TypeError(f"unexpected node {type(node).__name__}")
    return _Binary(_OPERATORS[type(node.op)], _build(node.left, source), _build(node.right, source))


def parse_formula(text: str) -> Formula:
    """Parse a calculated KPI's formula (K11), or raise ``DomainError(formula_invalid)`` with the
    reason, on ``field="formula"``: empty, too long or deep, a syntax error (and where), or a
    construct that is not allowed (and which)."""
    if not text.strip():
        raise _invalid(_("The formula is empty."))
    if len(text) > MAX_LENGTH:
        raise _invalid(_("The formula is too long (at most %(length)d characters).") % {"length": MAX_LENGTH})
    source = _tokenize(text)
    code = source.text.lstrip()  # Python reads a leading space as an indent
    try:
        tree = ast.parse(code, mode="eval")
    except SyntaxError as error:
        offset = (error.offset or 0) - 1 + len(source.text) - len(code)
        # Python gives no offset, or one past the end, when the formula stops mid-expression.
        if error.offset is None or error.offset < 1 or offset >= len(source.text.rstrip()):
            raise _invalid(_("The formula ends unexpectedly.")) from None
        position = source.position(offset)
        raise _invalid(
            _("The formula is not valid at character %(position)d: “%(near)s”.")
            % {"position": position, "near": text[position - 1 : position + 9].strip()}
        ) from None
    except (RecursionError, MemoryError):  # pragma: no cover  # defensive: bounded above by MAX_*
        raise _too_deep() from None
    _check_tree(tree)
    expression = _build(tree.body, source)
    normal = _PLACEHOLDER.sub(lambda match: source.placeholders[match.group()], ast.unparse(tree))
    return Formula(text=normal, names=_names(expression), expression=expression)


def _names(node: _Node) -> frozenset[str]:
    match node:
        case _Name(key):
            return frozenset([key])
        case _Negate(operand):
            return _names(operand)
        case _Binary(_, left, right):
            return _names(left) | _names(right)
    return frozenset()


# --- Formulas of a company -------------------------------------------------------------------------


def _dependencies(formulas: Mapping[str, str | None]) -> dict[str, frozenset[str]]:
    """Lowercased integration name → the lowercased names its formula uses (none for a plain KPI).
    A stored formula that does not parse names nothing: it was refused when it was saved, and its
    KPI has no value either way."""
    dependencies: dict[str, frozenset[str]] = {}
    for name, text in formulas.items():
        formula = _stored(text)
        dependencies[_key(name)] = formula.names if formula is not None else frozenset()
    return dependencies


def _stored(text: str | None) -> Formula | None:
    """A stored formula, or ``None`` for a plain KPI or a formula that does not parse."""
    if text is None:
        return None
    try:
        return parse_formula(text)
    except DomainError:
        return None


def _find_cycle(start: str, dependencies: Mapping[str, frozenset[str]]) -> list[str] | None:
    """A cycle reachable from ``start`` (``[a, b, a]``), or ``None``. Depth-first and iterative;
    names are visited in sorted order so that the cycle reported is always the same."""
    done: set[str] = set()
    path: list[str] = [start]
    on_path = {start}
    iterators = [iter(sorted(dependencies.get(start, ())))]
    while iterators:
        following = next(iterators[-1], None)
        if following is None:
            iterators.pop()
            done.add(path[-1])
            on_path.discard(path.pop())
        elif following in on_path:
            return [*path[path.index(following) :], following]
        elif following not in done:
            path.append(following)
            on_path.add(following)
            iterators.append(iter(sorted(dependencies.get(following, ()))))
    return None


def formula_errors(
    name: str, text: str, formulas: Mapping[str, str | None], usable: Collection[str]
) -> list[DomainError]:
    """Why the KPI ``name`` may not be calculated by ``text`` (K11), or ``[]`` when it may.

    ``formulas`` maps every KPI of the company, archived ones too, by integration name to its stored
    formula (``None`` for a plain KPI); ``usable`` are the KPIs a formula may name: those that
    exist and are not archived. All names match ignoring case. The errors, all ``formula_invalid``
    on ``field="formula"``: the parse error alone, or one per unknown, archived or own name, then a
    cycle through other calculated KPIs ("a → b → a"), with the formula ``text`` standing in for the
    KPI's stored one. Naming a calculated KPI that does not lead back is allowed.
    """
    try:
        formula = parse_formula(text)
    except DomainError as error:
        return [error]
    own, known, allowed = _key(name), {_key(each) for each in formulas}, {_key(each) for each in usable}
    # Names as the formula writes them, else as the company's KPIs do, for the messages.
    written = {_key(each): each for each in formulas}
    for word in reversed(_WORD.findall(text)):  # reversed: the first spelling wins
        written[_key(word)] = word
    written[own] = name
    errors = []
    for used in sorted(formula.names):
        if used == own:
            errors.append(_invalid(_("A formula cannot name its own KPI “%(name)s”.") % {"name": name}))
        elif used in known and used not in allowed:
            errors.append(_invalid(_("The KPI “%(name)s” is archived.") % {"name": written[used]}))
        elif used not in allowed:
            errors.append(_invalid(_("There is no KPI “%(name)s”.") % {"name": written[used]}))
    # The self-reference is reported above; the cycle search looks for longer ones.
    dependencies = _dependencies(formulas) | {own: formula.names - {own}}
    cycle = _find_cycle(own, dependencies)
    if cycle is not None:
        shown = {"cycle": " → ".join(written.get(each, each) for each in cycle)}
        if own in cycle:
            errors.append(_invalid(_("The formula makes a cycle: %(cycle)s.") % shown))
        else:  # a cycle further on, from old data: this KPI could never have a value either
            errors.append(_invalid(_("The formula names a KPI on a cycle: %(cycle)s.") % shown))
    return errors


def evaluation_order(formulas: Mapping[str, str | None]) -> list[str]:
    """The calculated KPIs of ``formulas`` (integration name → formula, ``None`` for a plain KPI) in
    an order where each comes after the calculated KPIs its formula names, ties alphabetical. A KPI
    on a cycle, or naming one, cannot be evaluated and is left out: its figure stays ``None``
    (``formula_errors`` keeps cycles from being saved; this guards a read from old data)."""
    dependencies = _dependencies(formulas)
    written = {_key(name): name for name in formulas}
    calculated = {_key(name) for name, text in formulas.items() if text is not None}
    waiting_on = {name: dependencies[name] & calculated for name in calculated}
    needed_by: dict[str, list[str]] = {name: [] for name in calculated}
    for name, needs in waiting_on.items():
        for each in needs:
            needed_by[each].append(name)
    ready = [name for name, needs in waiting_on.items() if not needs]
    heapq.heapify(ready)
    remaining = {name: len(needs) for name, needs in waiting_on.items()}
    order = []
    while ready:
        name = heapq.heappop(ready)
        order.append(written[name])
        for each in needed_by[name]:
            remaining[each] -= 1
            if remaining[each] == 0:
                heapq.heappush(ready, each)
    return order


def evaluate_all(
    formulas: Mapping[str, str | None], figures: Mapping[str, Decimal | None]
) -> dict[str, Decimal | None]:
    """``figures`` (the plain KPIs' figures by integration name) with every calculated KPI's figure
    added, evaluated in ``evaluation_order`` so that a formula sees the calculated KPIs it names. A
    calculated KPI that cannot be evaluated (a cycle, a stored formula that does not parse) is
    ``None``; a figure given for a calculated KPI is replaced."""
    calculated = {_key(name): name for name, text in formulas.items() if text is not None}
    result: dict[str, Decimal | None] = {
        name: figure for name, figure in figures.items() if _key(name) not in calculated
    }
    result |= dict.fromkeys(calculated.values())
    folded = {_key(name): figure for name, figure in result.items()}
    for name in evaluation_order(formulas):
        formula = _stored(formulas[name])
        if formula is not None:
            result[name] = folded[_key(name)] = formula.evaluate(folded)
    return result
