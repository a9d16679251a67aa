"""Compiler for a monitor's ``boolExp`` (Stellantis Connected Car B2B grammar).

A monitor combines its named triggers with ``&`` (and), ``|`` (or), prefix
``!`` (not) and parentheses; ``!`` binds tightest, then ``&``, then ``|``.
A monitor has at most five triggers, so the whole expression fits in a truth
table of at most 32 bits held in one int: it is compiled once, and evaluating
it on the telemetry path is a shift and a mask, with no parsing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pyparsing as pp

MAX_TRIGGERS = 5
MAX_SOURCE_LENGTH = 1000
MAX_NESTING_DEPTH = 50
TRIGGER_NAME_PATTERN = r"[a-zA-Z]+[._]?[0-9]*"

_TRIGGER_NAME = re.compile(TRIGGER_NAME_PATTERN)
_TRIGGER_NAME_RULE = "letters, then an optional '.' or '_', then optional digits"
_OPERATORS = frozenset("&|!()")
_BINARY_OPERATORS = frozenset("&|")

# Words are scanned more broadly than a trigger name so that a malformed name
# such as "2a" or "a.b" is reported whole rather than as confusing fragments.
# Keeping tabs makes pyparsing's offsets match the columns the user sees.
_TOKEN_GRAMMAR = (pp.Word(pp.alphanums + "._") | pp.Char("".join(_OPERATORS))).parse_with_tabs()


class BoolExpError(ValueError):
    """An invalid expression; ``message`` says what and where for the API user."""

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: 1-based character position in the source (its column, for the usual
        #: one-line expression), or None when the problem has no single place.
        self.column = column


@dataclass(frozen=True)
class CompiledExpression:
    """A boolExp reduced to its truth table.

    Bit ``i`` of ``truth_table`` is the expression's value when, for every
    ``j``, trigger ``names[j]`` is true iff bit ``j`` of ``i`` is set.
    Rebuilding one from stored ``(source, names, truth_table)`` is plain
    construction: nothing is parsed.
    """

    source: str
    names: tuple[str, ...]
    truth_table: int

    def evaluate(self, values: Mapping[str, bool]) -> bool:
        """Value of the expression; a trigger missing from ``values`` is false."""
        bits = 0
        for position, name in enumerate(self.names):
            if values.get(name, False):
                bits |= 1 << position
        return self.evaluate_bits(bits)

    def evaluate_bits(self, bits: int) -> bool:
        """Value of the expression when bit ``j`` of ``bits`` is trigger ``names[j]``."""
        return bool((self.truth_table >> bits) & 1)


def compile_expression(source: str, declared_names: Sequence[str]) -> CompiledExpression:
    """Compile ``source`` over ``declared_names``, whose order fixes the bit order.

    Problems are reported in this order: invalid declared names, syntax,
    unknown triggers, declared triggers left unused, constant expressions.
    """
    names = tuple(declared_names)
    _check_declared_names(names)
    tree, tokens = _parse(source)
    name_tokens = [token for token in tokens if token.is_name]
    for token in name_tokens:
        if token.text not in names:
            declared = ", ".join(repr(name) for name in names) or "none"
            raise BoolExpError(
                f"unknown trigger {token.text!r} at column {token.column} (declared triggers: {declared})",
                token.column,
            )
    used_names = {token.text for token in name_tokens}
    for name in names:
        if name not in used_names:
            raise BoolExpError(f"trigger {name!r} is declared but not used in boolExp")

    # Every assignment is evaluated at once: row i of the table is bit i of an
    # int, so '&', '|' and '!' on the tree become bitwise operations on ints.
    row_count = 1 << len(names)
    every_row = (1 << row_count) - 1
    name_masks = {name: _rows_where_true(position, row_count) for position, name in enumerate(names)}
    truth_table = tree.truth_mask(name_masks, every_row)
    if truth_table == every_row:
        raise BoolExpError("expression is always true (tautology)")
    if truth_table == 0:
        raise BoolExpError("expression is always false (contradiction)")
    return CompiledExpression(source=source, names=names, truth_table=truth_table)


def referenced_names(source: str) -> list[str]:
    """Trigger names in ``source``, each once, in order of first appearance."""
    _, tokens = _parse(source)
    return list(dict.fromkeys(token.text for token in tokens if token.is_name))


def _check_declared_names(names: tuple[str, ...]) -> None:
    if len(names) > MAX_TRIGGERS:
        raise BoolExpError(f"too many triggers: {len(names)} declared, at most {MAX_TRIGGERS} allowed")
    seen: set[str] = set()
    for name in names:
        if not _TRIGGER_NAME.fullmatch(name):
            raise BoolExpError(f"invalid trigger name {name!r}: a name is {_TRIGGER_NAME_RULE}")
        if name in seen:
            raise BoolExpError(f"trigger {name!r} is declared more than once")
        seen.add(name)


def _rows_where_true(position: int, row_count: int) -> int:
    mask = 0
    for row in range(row_count):
        if (row >> position) & 1:
            mask |= 1 << row
    return mask


@dataclass(frozen=True)
class _Token:
    text: str
    column: int

    @property
    def is_name(self) -> bool:
        return self.text not in _OPERATORS


@dataclass(frozen=True)
class _Name:
    name: str

    def truth_mask(self, name_masks: Mapping[str, int], every_row: int) -> int:
        return name_masks[self.name]


@dataclass(frozen=True)
class _Not:
    operand: _Node

    def truth_mask(self, name_masks: Mapping[str, int], every_row: int) -> int:
        return every_row ^ self.operand.truth_mask(name_masks, every_row)


@dataclass(frozen=True)
class _And:
    operands: tuple[_Node, ...]

    def truth_mask(self, name_masks: Mapping[str, int], every_row: int) -> int:
        mask = every_row
        for operand in self.operands:
            mask &= operand.truth_mask(name_masks, every_row)
        return mask


@dataclass(frozen=True)
class _Or:
    operands: tuple[_Node, ...]

    def truth_mask(self, name_masks: Mapping[str, int], every_row: int) -> int:
        mask = 0
        for operand in self.operands:
            mask |= operand.truth_mask(name_masks, every_row)
        return mask


_Node = _Name | _Not | _And | _Or


def _parse(source: str) -> tuple[_Node, list[_Token]]:
    if len(source) > MAX_SOURCE_LENGTH:
        raise BoolExpError(f"expression is too long: {len(source)} characters, at most {MAX_SOURCE_LENGTH} allowed")
    if not source.strip():
        raise BoolExpError("empty expression")
    tokens = _tokenize(source)
    _check_parentheses(tokens)
    return _Parser(tokens).parse(), tokens


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    scanned_up_to = 0
    for matched, start, end in _TOKEN_GRAMMAR.scan_string(source):
        _reject_stray_characters(source, scanned_up_to, start)
        token = _Token(matched[0], start + 1)
        if token.is_name and not _TRIGGER_NAME.fullmatch(token.text):
            raise BoolExpError(
                f"invalid trigger name {token.text!r} at column {token.column}: a name is {_TRIGGER_NAME_RULE}",
                token.column,
            )
        tokens.append(token)
        scanned_up_to = end
    _reject_stray_characters(source, scanned_up_to, len(source))
    return tokens


def _reject_stray_characters(source: str, start: int, end: int) -> None:
    """The scanner silently skips what no token matches; only whitespace may be skipped."""
    for index in range(start, end):
        if not source[index].isspace():
            raise BoolExpError(f"unexpected character {source[index]!r} at column {index + 1}", index + 1)


def _check_parentheses(tokens: list[_Token]) -> None:
    # Done before parsing so that the parser can rely on balance, and so that
    # depth is bounded before it recurses.
    open_columns: list[int] = []
    for token in tokens:
        if token.text == "(":
            open_columns.append(token.column)
            if len(open_columns) > MAX_NESTING_DEPTH:
                raise BoolExpError(
                    f"expression is nested too deeply: '(' at column {token.column} "
                    f"opens more than {MAX_NESTING_DEPTH} levels of parentheses",
                    token.column,
                )
        elif token.text == ")":
            if not open_columns:
                raise BoolExpError(
                    f"unbalanced parenthesis: ')' at column {token.column} has no matching '('", token.column
                )
            open_columns.pop()
    if open_columns:
        raise BoolExpError(
            f"unbalanced parenthesis: '(' at column {open_columns[-1]} is never closed", open_columns[-1]
        )


class _Parser:
    """Recursive descent over balanced tokens, one method per precedence level.

    Chains of '&', '|' and '!' are consumed in loops, so recursion only grows
    with parenthesis depth, which _check_parentheses has already bounded.
    """

    def __init__(self, tokens: list[_Token]) -> None:
        self._tokens = tokens
        self._position = 0

    def parse(self) -> _Node:
        # Parentheses are balanced, so the top level can only end at the end.
        return self._parse_disjunction()

    def _peek(self) -> _Token | None:
        return self._tokens[self._position] if self._position < len(self._tokens) else None

    def _next_is(self, text: str) -> bool:
        token = self._peek()
        return token is not None and token.text == text

    def _parse_disjunction(self) -> _Node:
        operands = [self._parse_conjunction()]
        while self._next_is("|"):
            self._position += 1
            operands.append(self._parse_conjunction())
        return operands[0] if len(operands) == 1 else _Or(tuple(operands))

    def _parse_conjunction(self) -> _Node:
        operands = [self._parse_negation()]
        while self._next_is("&"):
            self._position += 1
            operands.append(self._parse_negation())
        return operands[0] if len(operands) == 1 else _And(tuple(operands))

    def _parse_negation(self) -> _Node:
        negated = False
        while self._next_is("!"):
            self._position += 1
            negated = not negated
        operand = self._parse_operand()
        return _Not(operand) if negated else operand

    def _parse_operand(self) -> _Node:
        token = self._peek()
        if token is None or token.text in _BINARY_OPERATORS or token.text == ")":
            raise self._missing_operand_error(token)
        self._position += 1
        if token.text == "(":
            operand = self._parse_disjunction()
            # Balance guarantees that what stops the disjunction is this ')'.
            self._position += 1
        else:
            operand = _Name(token.text)
        self._reject_juxtaposed_token()
        return operand

    def _reject_juxtaposed_token(self) -> None:
        token = self._peek()
        if token is not None and token.text not in _BINARY_OPERATORS and token.text != ")":
            raise BoolExpError(
                f"missing operator before {token.text!r} at column {token.column} (expected '&' or '|')",
                token.column,
            )

    def _missing_operand_error(self, token: _Token | None) -> BoolExpError:
        previous = self._tokens[self._position - 1] if self._position > 0 else None
        if previous is not None and previous.text == "!":
            return BoolExpError(f"operator '!' at column {previous.column} has no operand", previous.column)
        if token is not None and token.text in _BINARY_OPERATORS:
            if previous is not None and previous.text == token.text and previous.column == token.column - 1:
                return BoolExpError(
                    f"{token.text * 2!r} at column {previous.column} is not an operator: use a single {token.text!r}",
                    previous.column,
                )
            return BoolExpError(
                f"operator {token.text!r} at column {token.column} has no left operand", token.column
            )
        # Left: a ')' or the end, after '(' or a binary operator (balance rules
        # out a ')' or the end anywhere else, and the empty check an empty list).
        assert previous is not None
        if previous.text == "(":
            return BoolExpError(f"empty parentheses at column {previous.column}", previous.column)
        return BoolExpError(
            f"operator {previous.text!r} at column {previous.column} has no right operand", previous.column
        )
