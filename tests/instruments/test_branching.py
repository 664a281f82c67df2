"""Branching logic: what the parser reads and refuses, the canonical text, and REDCap's rules for
deciding a condition."""

from __future__ import annotations

import itertools

import pytest

from instruments.branching import (
    All,
    AnyOf,
    BranchingSyntaxError,
    Comparison,
    Condition,
    Not,
    evaluate,
    fields,
    parse_condition,
    rename,
    to_json,
    to_text,
)

A = Comparison("a", None, "=", "1")
B = Comparison("b", None, "=", "1")
C = Comparison("c", None, "=", "1")


# --- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["=", "<>", "<", ">", "<=", ">="])
def test_each_operator(op):
    assert parse_condition(f"[age] {op} '18'") == Comparison("age", None, op, "18")


def test_bang_equals_is_not_equal():
    assert parse_condition("[x]!='2'") == Comparison("x", None, "<>", "2")


def test_keywords_in_any_case_and_precedence():
    # 'and' binds tighter than 'or', whatever the case
    expected = AnyOf((A, All((B, C))))
    for text in ("[a] = '1' or [b] = '1' and [c] = '1'",
                 "[a] = '1' OR [b] = '1' AND [c] = '1'",
                 "[a] = '1' Or [b] = '1' aNd [c] = '1'"):
        assert parse_condition(text) == expected
    assert parse_condition("([a] = '1' or [b] = '1') and [c] = '1'") == All((AnyOf((A, B)), C))


def test_chains_are_flat_and_parentheses_keep_nesting():
    assert parse_condition("[a]='1' and [b]='1' and [c]='1'") == All((A, B, C))
    assert parse_condition("[a]='1' and ([b]='1' and [c]='1')") == All((A, All((B, C))))
    assert parse_condition("((([a] = '1')))") == A


def test_not_prefixes_an_atom_or_a_group():
    assert parse_condition("not [a] = '1' and [b] = '1'") == All((Not(A), B))
    assert parse_condition("NOT([a] = '1' or [b] = '1')") == Not(AnyOf((A, B)))
    assert parse_condition("not not([a] = '1')") == Not(Not(A))


def test_literals_numbers_and_quotes():
    assert parse_condition('[a] = "1"') == A
    assert parse_condition("[a] = 1") == A
    assert parse_condition("[a] >= -2.5") == Comparison("a", None, ">=", "-2.5")
    assert parse_condition("[a] = 007") == Comparison("a", None, "=", "007")  # kept as written
    assert parse_condition("[a] = \"it's\"") == Comparison("a", None, "=", "it's")
    assert parse_condition("[a] = 'say \"hi\"'") == Comparison("a", None, "=", 'say "hi"')
    assert parse_condition("[a] = ''") == Comparison("a", None, "=", "")
    assert parse_condition("[a] <> \"\"") == Comparison("a", None, "<>", "")


def test_checkbox_references_and_field_names_as_written():
    assert parse_condition("[Contact_Type(3)] = '1'") == Comparison("Contact_Type", "3", "=", "1")
    assert parse_condition("[cb(opt_b-2)] = '0'") == Comparison("cb", "opt_b-2", "=", "0")


def test_whitespace_and_newlines_anywhere():
    text = "\n  (\t[a]\n=\n'1'  \r\n or\n[b]='1' )  \n"
    assert parse_condition(text) == AnyOf((A, B))


REFUSALS = [
    # (text, position, words in the problem)
    ("datediff([dob], 'today', 'y') > 18", 1, "functions such as datediff() are not supported"),
    ("[a] = '1' and if([b] = 1, 1, 0) = 1", 15, "functions such as if() are not supported"),
    ("sum([a], [b]) > 2", 1, "functions such as sum() are not supported"),
    ("contains ([a], 'x')", 1, "functions such as contains() are not supported"),
    ("[a] + [b] > 2", 5, "arithmetic (+) is not supported"),
    ("[a] = 1 - 2", 9, "arithmetic (-) is not supported"),
    ("[a] * 2 = 4", 5, "arithmetic (*) is not supported"),
    ("[a] = 4 / 2", 9, "arithmetic (/) is not supported"),
    ("[event-name] = 'baseline_arm_1'", 1, "smart variables such as [event-name]"),
    ("[a] = '1' or [baseline_arm_1][x] = '1'", 14, "event-prefixed fields such as "
                                                   "[baseline_arm_1][x] are not supported"),
    ("[x:checked] = '1'", 1, "modifiers such as [x:checked]"),
    ("[a] == '1'", 5, "use = to compare, not =="),
    ("([a] = '1' or [b] = '1'", 24, "expected ')' after the condition"),
    ("[a] = '1' and ([b] = '1' [c] = '1')", 26, "expected ')' after the condition"),
    ("[a] = '1')", 10, "')' without a matching '('"),
    ("[a] = '1", 7, "the quote ' opened here is not closed"),
    ('[a] = "1', 7, 'the quote " opened here is not closed'),
    ("[a = '1'", 1, "'[' is not closed with ']'"),
    ("[a(1] = '1'", 1, "is not a field"),
    ("", 1, "the condition is empty"),
    ("  \n ", 1, "the condition is empty"),
    ("[a] = '1' and", 14, "the condition ends too early"),
    ("[a] = '1' extra", 11, "expected 'and', 'or' or the end of the condition, found 'extra'"),
    ("[a] = '1' [b] = '1'", 11, "expected 'and', 'or' or the end of the condition, found [b]"),
    ("'1' = [x]", 1, "the field must come first, as in [x] = '1'"),
    ("[a] = [b]", 7, "comparing two fields is not supported"),
    ("[a]", 4, "expected =, <>, <, >, <= or >= after [a], found the end"),
    ("[a] = yes", 7, "expected a value such as '1' after =, found 'yes'"),
    ("and [a] = '1'", 1, "expected a condition before 'and'"),
    ("a = '1'", 1, "unexpected word 'a'"),
    ("[1a] = '1'", 1, "[1a] is not a field"),
    ("[a] = '1' && [b] = '1'", 11, "use 'and' or 'or' instead of &&"),
    ("[a] = '1' # note", 11, "unexpected character '#'"),
]


@pytest.mark.parametrize(("text", "position", "problem"), REFUSALS)
def test_refusals_name_the_character_and_the_problem(text, position, problem):
    with pytest.raises(BranchingSyntaxError) as raised:
        parse_condition(text)
    assert raised.value.position == position
    assert problem in raised.value.problem
    assert str(raised.value) == f"at character {position}: {raised.value.problem}"


def test_the_error_reads_as_documented():
    with pytest.raises(BranchingSyntaxError, match=r"^at character 10: expected '\)' after the "
                                                   r"condition$"):
        parse_condition("([a] = 1 [b] = 2")
    assert isinstance(BranchingSyntaxError(1, "x"), ValueError)


# --- writing -------------------------------------------------------------------------------


def test_canonical_text():
    tree = AnyOf((All((Comparison("a", None, "=", "1"), Comparison("b", "2", "<>", "1"))),
                  Not(AnyOf((Comparison("c", None, ">=", "-2.5"),
                             Comparison("d", None, "=", "it's"))))))
    assert to_text(tree) == ("[a] = '1' and [b(2)] <> '1' or "
                             "not([c] >= '-2.5' or [d] = \"it's\")")
    assert to_text(All((AnyOf((A, B)), C))) == "([a] = '1' or [b] = '1') and [c] = '1'"


def _trees() -> list[Condition]:
    leaves: list[Condition] = [
        A, Comparison("Bb", "x-1", "<>", ""), Comparison("c", None, "<=", "say \"hi\""),
        Comparison("d", None, ">", "it's"), Comparison("e", None, "<", "-0.5"),
    ]
    trees = list(leaves)
    for x, y in itertools.product(leaves[:3], repeat=2):
        trees += [All((x, y)), AnyOf((x, y))]
    for x in list(trees):
        trees.append(Not(x))
    compound = [t for t in trees if not isinstance(t, Comparison)][:12]
    for x, y, z in itertools.product(trees[:8], compound, leaves[:2]):
        trees += [All((x, y, z)), AnyOf((y, x, z)), All((AnyOf((x, y)), z)),
                  AnyOf((All((x, y)), Not(z))), All((All((x, y)), z)), AnyOf((x, AnyOf((y, z))))]
    return trees


def test_to_text_round_trips_every_tree():
    trees = _trees()
    assert len(trees) > 500
    for tree in trees:
        assert parse_condition(to_text(tree)) == tree, to_text(tree)


def test_trees_that_cannot_be_written_are_refused():
    with pytest.raises(ValueError, match="both kinds of quote"):
        Comparison("a", None, "=", "it's \"x\"")
    with pytest.raises(ValueError, match="not a REDCap variable name"):
        Comparison("a b", None, "=", "1")
    with pytest.raises(ValueError, match="not one of"):
        Comparison("a", None, "==", "1")
    with pytest.raises(ValueError, match="at least two"):
        All((A,))


def test_trees_are_hashable_values():
    assert {parse_condition("[a] = 1"), parse_condition("[a]='1'")} == {A}
    assert hash(All((A, B))) == hash(All((A, B)))


def test_fields_rename_and_json():
    tree = parse_condition("[Age] > 18 and not([CB(2)] = '1' or [age] = '')")
    assert fields(tree) == frozenset({"Age", "CB", "age"})
    lowered = rename(tree, str.lower)
    assert lowered == parse_condition("[age] > 18 and not([cb(2)] = '1' or [age] = '')")
    assert to_json(lowered) == ["and", [">", "age", None, "18"],
                                ["not", ["or", ["=", "cb", "2", "1"], ["=", "age", None, ""]]]]


# --- deciding ------------------------------------------------------------------------------

EVALUATIONS = [
    # (condition, answers, expected)
    ("[x] = '1'", {"x": "1.0"}, True),  # both numbers: compared as numbers
    ("[x] = 1", {"x": "01"}, True),
    ("[x] = '1'", {"x": "1 "}, False),  # not a number: compared as text
    ("[x] = 'a'", {"x": "A"}, False),
    ("[x] <> '2'", {"x": "2.00"}, False),
    ("[x] = ''", {}, True),
    ("[x] = ''", {"x": None}, True),
    ("[x] = ''", {"x": ""}, True),
    ("[x] = ''", {"x": "0"}, False),
    ("[x] <> ''", {"x": "0"}, True),
    ("[x] <> ''", {"x": None}, False),
    ("[x] = '0'", {"x": None}, False),
    ("[x] < 5", {"x": None}, False),  # empty is never less or greater
    ("[x] > -5", {}, False),
    ("[x] <= ''", {"x": "3"}, False),
    ("[x] >= ''", {"x": ""}, False),
    ("[x] < 10", {"x": "9"}, True),  # as numbers, not as text ("9" > "10")
    ("[x] >= 2.5", {"x": "2.50"}, True),
    ("[x] > '1e3'", {"x": "1001"}, True),
    ("[x] = '.5'", {"x": "0.50"}, True),
    ("[x] < 'b'", {"x": "abc"}, True),  # text
    ("[x] > '10'", {"x": "9a"}, True),  # one side not a number: text
    ("[x] <= 'b'", {"x": "b"}, True),
    ("[cb(2)] = '1'", {"cb": "1,2,3"}, True),
    ("[cb(2)] = '1'", {"cb": "12"}, False),
    ("[cb(2)] = '0'", {"cb": "1,3"}, True),
    ("[cb(2)] = '0'", {"cb": None}, True),  # unanswered: every option reads '0'
    ("[cb(2)] = '0'", {}, True),
    ("[cb(2)] <> ''", {}, True),
    ("[a] = 1 or [b] = 1 and [c] = 1", {"a": "1"}, True),
    ("([a] = 1 or [b] = 1) and [c] = 1", {"a": "1"}, False),
    ("not([a] = 1)", {"a": None}, True),
    ("not [a] = 1 and [b] = 2", {"a": "0", "b": "2"}, True),
]


@pytest.mark.parametrize(("text", "answers", "expected"), EVALUATIONS)
def test_evaluate_follows_redcap(text, answers, expected):
    assert evaluate(parse_condition(text), answers) is expected
