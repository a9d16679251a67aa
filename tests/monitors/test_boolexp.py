from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from monitors.boolexp import (
    MAX_NESTING_DEPTH,
    MAX_SOURCE_LENGTH,
    BoolExpError,
    CompiledExpression,
    compile_expression,
    referenced_names,
)

STELLANTIS_EXAMPLE = "((z1 & t1) | (z2 & !t1) | (o1 & z1) | (o2 & (z1 | t2))  | (o3 & (z1 | z2)))"


def assignments_in_bit_order(names: tuple[str, ...]) -> list[dict[str, bool]]:
    """Entry i gives trigger names[j] the value of bit j of i, as the truth table does."""
    return [{name: bool(bits >> j & 1) for j, name in enumerate(names)} for bits in range(1 << len(names))]


def truth_table_of(source: str, names: str) -> int:
    return compile_expression(source, list(names)).truth_table


# --- precedence, associativity and whitespace -------------------------------


@pytest.mark.parametrize(
    ("source", "equivalent", "not_equivalent"),
    [
        ("a | b & c", "a | (b & c)", "(a | b) & c"),
        ("a & b | c", "(a & b) | c", "a & (b | c)"),
        ("!a & b", "(!a) & b", "!(a & b)"),
        ("!a | b", "(!a) | b", "!(a | b)"),
        ("a | !b & c", "a | ((!b) & c)", "(a | !b) & c"),
        ("!!a & b", "a & b", "!a & b"),
    ],
)
def test_operator_precedence_and_negation_bind_as_specified(source, equivalent, not_equivalent):
    names = "".join(sorted(set(filter(str.isalpha, source))))
    assert truth_table_of(source, names) == truth_table_of(equivalent, names)
    assert truth_table_of(source, names) != truth_table_of(not_equivalent, names)


def test_double_negation_cancels_out():
    assert truth_table_of("!!a", "a") == truth_table_of("a", "a")
    assert truth_table_of("!!!a", "a") == truth_table_of("!a", "a")


@pytest.mark.parametrize("spaced", ["a&!b|c", " a & ! b | c ", "\ta\n&\r\n!b   |c\t", "((a)&(!(b)))|(c)"])
def test_whitespace_and_redundant_parentheses_do_not_change_meaning(spaced):
    assert truth_table_of(spaced, "abc") == truth_table_of("a & !b | c", "abc")


def test_truth_table_bit_i_is_the_value_when_names_j_is_bit_j_of_i():
    compiled = compile_expression("a & !b", ["a", "b"])
    # Only row 0b01 (a true, b false) is true.
    assert compiled.truth_table == 0b0010
    assert compile_expression("a & !b", ["b", "a"]).truth_table == 0b0100


def test_evaluate_treats_missing_triggers_as_false():
    compiled = compile_expression("a | !b", ["a", "b"])
    assert compiled.evaluate({}) is True
    assert compiled.evaluate({"b": True}) is False
    assert compiled.evaluate({"a": True, "b": True}) is True


def test_evaluate_and_evaluate_bits_agree_on_every_assignment():
    compiled = compile_expression("(x1 & outOfParis) | !battery_2", ["x1", "outOfParis", "battery_2"])
    for bits, values in enumerate(assignments_in_bit_order(compiled.names)):
        assert compiled.evaluate(values) == compiled.evaluate_bits(bits)
        assert compiled.evaluate(values) == ((values["x1"] and values["outOfParis"]) or not values["battery_2"])


def test_rebuilding_from_stored_fields_evaluates_identically_without_parsing():
    compiled = compile_expression("a & (b | !c)", ["a", "b", "c"])
    rebuilt = CompiledExpression(source=compiled.source, names=compiled.names, truth_table=compiled.truth_table)
    assert rebuilt == compiled
    for values in assignments_in_bit_order(compiled.names):
        assert rebuilt.evaluate(values) == compiled.evaluate(values)


def test_trigger_names_allow_dot_underscore_and_digits():
    names = ["z1", "outOfParis", "battery_2", "t.3", "o"]
    compiled = compile_expression("z1 & outOfParis | battery_2 & !t.3 | o", names)
    assert compiled.names == tuple(names)
    assert compiled.evaluate({"o": True}) is True
    assert compiled.evaluate({"battery_2": True, "t.3": True}) is False


def test_stellantis_example_is_parsed_with_names_in_first_appearance_order():
    assert referenced_names(STELLANTIS_EXAMPLE) == ["z1", "t1", "z2", "o1", "o2", "t2", "o3"]


def test_stellantis_example_with_its_seven_triggers_exceeds_the_five_trigger_limit():
    with pytest.raises(BoolExpError, match="too many triggers: 7 declared, at most 5"):
        compile_expression(STELLANTIS_EXAMPLE, ["z1", "t1", "z2", "o1", "o2", "t2", "o3"])


def test_stellantis_style_expression_over_five_triggers_evaluates_like_python():
    source = "((z1 & t1) | (z2 & !t1) | (o1 & z1) | (o2 & (z1 | z2)))"
    compiled = compile_expression(source, ["z1", "t1", "z2", "o1", "o2"])
    for values in assignments_in_bit_order(compiled.names):
        z1, t1, z2, o1, o2 = (values[name] for name in compiled.names)
        expected = (z1 and t1) or (z2 and not t1) or (o1 and z1) or (o2 and (z1 or z2))
        assert compiled.evaluate(values) == expected


def test_referenced_names_lists_each_name_once():
    assert referenced_names("b & a | !b & (c | a)") == ["b", "a", "c"]


# --- errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "declared", "message", "column"),
    [
        ("", "a", "empty expression", None),
        (" \t\n ", "a", "empty expression", None),
        ("(a & b", "ab", "unbalanced parenthesis: '(' at column 1 is never closed", 1),
        ("(a & (b | c)", "abc", "unbalanced parenthesis: '(' at column 1 is never closed", 1),
        ("(a & (b", "ab", "unbalanced parenthesis: '(' at column 6 is never closed", 6),
        ("a & b)", "ab", "unbalanced parenthesis: ')' at column 6 has no matching '('", 6),
        (")a(", "a", "unbalanced parenthesis: ')' at column 1 has no matching '('", 1),
        ("a &", "a", "operator '&' at column 3 has no right operand", 3),
        ("(a |)", "a", "operator '|' at column 4 has no right operand", 4),
        ("& a", "a", "operator '&' at column 1 has no left operand", 1),
        ("a | | b", "ab", "operator '|' at column 5 has no left operand", 5),
        ("a && b", "ab", "'&&' at column 3 is not an operator: use a single '&'", 3),
        ("a||b", "ab", "'||' at column 2 is not an operator: use a single '|'", 2),
        ("!", "a", "operator '!' at column 1 has no operand", 1),
        ("a & !", "a", "operator '!' at column 5 has no operand", 5),
        ("a !b", "ab", "missing operator before '!' at column 3", 3),
        ("a b", "ab", "missing operator before 'b' at column 3", 3),
        ("a (b)", "ab", "missing operator before '(' at column 3", 3),
        ("(a) b", "ab", "missing operator before 'b' at column 5", 5),
        ("a & ()", "a", "empty parentheses at column 5", 5),
        ("a + b", "ab", "unexpected character '+' at column 3", 3),
        ("\t\ta ~", "a", "unexpected character '~' at column 5", 5),
        ("a & 2b", "a", "invalid trigger name '2b' at column 5", 5),
        ("a.b", "a", "invalid trigger name 'a.b' at column 1", 1),
        ("a & x", "a", "unknown trigger 'x' at column 5 (declared triggers: 'a')", 5),
        ("a", "ab", "trigger 'b' is declared but not used in boolExp", None),
        ("a | !a", "a", "expression is always true (tautology)", None),
        ("(a|b) | !(a|b)", "ab", "expression is always true (tautology)", None),
        ("a & !a", "a", "expression is always false (contradiction)", None),
        ("(a | b) & !a & !b", "ab", "expression is always false (contradiction)", None),
    ],
)
def test_invalid_expression_reports_what_and_where(source, declared, message, column):
    with pytest.raises(BoolExpError) as raised:
        compile_expression(source, list(declared))
    assert message in raised.value.message
    assert str(raised.value) == raised.value.message
    assert raised.value.column == column


def test_unclosed_parenthesis_reports_its_column():
    with pytest.raises(BoolExpError) as raised:
        compile_expression("a & ((b | c)", ["a", "b", "c"])
    assert raised.value.column == 5
    assert "'(' at column 5 is never closed" in raised.value.message


def test_unknown_trigger_error_names_the_declared_triggers():
    with pytest.raises(BoolExpError) as raised:
        compile_expression("z1 & zone", ["z1", "t1"])
    assert raised.value.message == "unknown trigger 'zone' at column 6 (declared triggers: 'z1', 't1')"


def test_syntax_errors_are_reported_before_unknown_triggers():
    with pytest.raises(BoolExpError, match="has no right operand"):
        compile_expression("x &", ["a"])


def test_unknown_triggers_are_reported_before_unused_ones():
    with pytest.raises(BoolExpError, match="unknown trigger 'x'"):
        compile_expression("x", ["a"])


def test_unused_triggers_are_reported_before_tautologies():
    with pytest.raises(BoolExpError, match="trigger 'b' is declared but not used"):
        compile_expression("a | !a", ["a", "b"])


def test_referenced_names_rejects_syntax_errors():
    with pytest.raises(BoolExpError, match="has no left operand"):
        referenced_names("| a")


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        (["a", "b", "c", "d", "e", "f"], "too many triggers: 6 declared, at most 5 allowed"),
        (["a", "a"], "trigger 'a' is declared more than once"),
        (["a", "2b"], "invalid trigger name '2b'"),
    ],
)
def test_invalid_declared_triggers_are_rejected(declared, message):
    with pytest.raises(BoolExpError, match=message):
        compile_expression(" | ".join(declared), declared)


# --- limits -------------------------------------------------------------------


def test_nesting_up_to_the_limit_compiles():
    depth = MAX_NESTING_DEPTH
    assert compile_expression("(" * depth + "a" + ")" * depth, ["a"]).evaluate({"a": True}) is True


def test_nesting_beyond_the_limit_is_rejected_at_the_first_excess_parenthesis():
    depth = MAX_NESTING_DEPTH + 1
    with pytest.raises(BoolExpError, match="nested too deeply") as raised:
        compile_expression("(" * depth + "a" + ")" * depth, ["a"])
    assert raised.value.column == depth


def test_pathologically_deep_input_raises_boolexp_error_not_recursion_error():
    with pytest.raises(BoolExpError, match="nested too deeply"):
        compile_expression("(" * 499 + "a" + ")" * 499, ["a"])


def test_long_operator_chains_within_the_length_limit_compile():
    odd_negations = "!" * 999 + "a"
    assert len(odd_negations) <= MAX_SOURCE_LENGTH
    assert compile_expression(odd_negations, ["a"]).evaluate({"a": False}) is True
    conjunction = " & ".join(["a"] * 250)
    assert len(conjunction) <= MAX_SOURCE_LENGTH
    assert compile_expression(conjunction, ["a"]).evaluate({"a": True}) is True


def test_expression_longer_than_the_limit_is_rejected():
    with pytest.raises(BoolExpError, match=f"too long: {MAX_SOURCE_LENGTH + 1} characters"):
        compile_expression("a" + " " * MAX_SOURCE_LENGTH, ["a"])


# --- properties -----------------------------------------------------------------

NAME_POOL = ("z1", "outOfParis", "battery_2", "t.3", "o")
SPACING = st.sampled_from(["", " ", "  ", "\t", "\n"])


@dataclass(frozen=True)
class Leaf:
    name: str


@dataclass(frozen=True)
class Not:
    operand: Tree


@dataclass(frozen=True)
class Binary:
    operator: str  # "&" or "|"
    left: Tree
    right: Tree


Tree = Leaf | Not | Binary


def reference_value(tree: Tree, values: dict[str, bool]) -> bool:
    if isinstance(tree, Leaf):
        return values[tree.name]
    if isinstance(tree, Not):
        return not reference_value(tree.operand, values)
    if tree.operator == "&":
        return reference_value(tree.left, values) and reference_value(tree.right, values)
    return reference_value(tree.left, values) or reference_value(tree.right, values)


def names_in_order(tree: Tree) -> list[str]:
    if isinstance(tree, Leaf):
        return [tree.name]
    if isinstance(tree, Not):
        return names_in_order(tree.operand)
    return names_in_order(tree.left) + names_in_order(tree.right)


def precedence(tree: Tree) -> int:
    if isinstance(tree, Leaf):
        return 4
    if isinstance(tree, Not):
        return 3
    return 2 if tree.operator == "&" else 1


@st.composite
def rendered(draw, tree: Tree, parent_precedence: int = 0) -> str:
    """Text for `tree`, with parentheses where precedence needs them and randomly elsewhere."""
    if isinstance(tree, Leaf):
        text = tree.name
    elif isinstance(tree, Not):
        text = "!" + draw(SPACING) + draw(rendered(tree.operand, precedence(tree)))
    else:
        own = precedence(tree)
        left = draw(rendered(tree.left, own))
        # '&' and '|' are associative, so a same-operator right child may drop
        # its parentheses without changing the value the reference computes.
        right = draw(rendered(tree.right, own))
        text = left + draw(SPACING) + tree.operator + draw(SPACING) + right
    if precedence(tree) < parent_precedence or draw(st.booleans()):
        text = "(" + draw(SPACING) + text + draw(SPACING) + ")"
    return text


@st.composite
def trees_over_leaves(draw, leaves: tuple[str, ...]) -> Tree:
    if len(leaves) == 1:
        tree: Tree = Leaf(leaves[0])
    else:
        split = draw(st.integers(min_value=1, max_value=len(leaves) - 1))
        operator = draw(st.sampled_from(["&", "|"]))
        tree = Binary(operator, draw(trees_over_leaves(leaves[:split])), draw(trees_over_leaves(leaves[split:])))
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        tree = Not(tree)
    return tree


@st.composite
def expression_cases(draw) -> tuple[Tree, str, tuple[str, ...]]:
    """A random tree, its text, and its declared names in a random (bit) order."""
    declared = tuple(draw(st.permutations(NAME_POOL)))[: draw(st.integers(min_value=1, max_value=len(NAME_POOL)))]
    # Each declared name appears at least once, or compiling would reject it as unused.
    repeated = draw(st.lists(st.sampled_from(declared), max_size=4))
    leaves = tuple(draw(st.permutations(declared + tuple(repeated))))
    tree = draw(trees_over_leaves(leaves))
    return tree, draw(rendered(tree)), declared


PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)


@PROPERTY_SETTINGS
@given(expression_cases())
def test_compiled_expression_agrees_with_reference_evaluator_on_every_assignment(case):
    tree, source, declared = case
    reference = [reference_value(tree, values) for values in assignments_in_bit_order(declared)]
    assume(not all(reference) and any(reference))  # constant ones are the next property's
    compiled = compile_expression(source, declared)
    for bits, values in enumerate(assignments_in_bit_order(declared)):
        assert compiled.evaluate(values) == reference[bits], (source, values)
        assert compiled.evaluate_bits(bits) == reference[bits], (source, bits)


@PROPERTY_SETTINGS
@given(expression_cases())
def test_expression_is_rejected_as_always_true_or_false_iff_reference_is_constant(case):
    tree, source, declared = case
    reference = {reference_value(tree, values) for values in assignments_in_bit_order(declared)}
    try:
        compile_expression(source, declared)
    except BoolExpError as error:
        assert reference in ({True}, {False}), (source, error.message)
        expected = "always true (tautology)" if reference == {True} else "always false (contradiction)"
        assert expected in error.message
    else:
        assert reference == {True, False}, source


@PROPERTY_SETTINGS
@given(expression_cases())
def test_referenced_names_follow_first_appearance_in_the_text(case):
    tree, source, _ = case
    assert referenced_names(source) == list(dict.fromkeys(names_in_order(tree)))


GRAMMAR_TOKENS = st.sampled_from(["a", "b", " a ", " b ", "c", "&", "|", "!", "(", ")", " "])
JUNK = st.one_of(st.sampled_from(["z1", "t.3", "x_", "2", ".", "&&", "\t", "\n"]), st.characters())


@st.composite
def arbitrary_text(draw) -> tuple[str, tuple[str, ...]]:
    return draw(st.lists(st.one_of(GRAMMAR_TOKENS, JUNK), max_size=30).map("".join)), ("a", "b")


@st.composite
def almost_valid_text(draw) -> tuple[str, tuple[str, ...]]:
    """A valid expression with a few characters replaced: reaches the parser's deeper errors."""
    _, source, declared = draw(expression_cases())
    start = draw(st.integers(min_value=0, max_value=len(source)))
    end = start + draw(st.integers(min_value=0, max_value=2))
    replacement = draw(st.lists(st.one_of(GRAMMAR_TOKENS, JUNK), max_size=2).map("".join))
    return source[:start] + replacement + source[end:], declared


@settings(max_examples=400, deadline=None)
@given(st.one_of(arbitrary_text(), almost_valid_text()))
def test_any_text_yields_a_compiled_expression_or_a_located_boolexp_error(case):
    source, declared = case
    try:
        compiled = compile_expression(source, declared)
    except BoolExpError as error:
        assert error.message
        assert error.column is None or 1 <= error.column <= len(source)
    else:
        every_row = (1 << (1 << len(declared))) - 1
        assert 0 < compiled.truth_table < every_row
        assert sorted(referenced_names(source)) == sorted(declared)
