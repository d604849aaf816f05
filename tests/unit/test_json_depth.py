"""The nesting limit every JSON text the service reads is held to before a recursive parser sees it."""

from __future__ import annotations

import json

import pytest

from dispute_gateway.json_depth import MAX_DEPTH, TooDeep, check_depth

LEVELS = 100_000


def nested(levels: int, opening: str = "[", closing: str = "]") -> str:
    return opening * levels + closing * levels


@pytest.mark.parametrize(("opening", "closing"), [("[", "]"), ('{"a":', "}")])
def test_a_hundred_thousand_levels_are_refused_in_plain_words(opening: str, closing: str) -> None:
    with pytest.raises(TooDeep) as refused:
        check_depth(nested(LEVELS, opening, closing), "the body")
    assert str(refused.value) == "the body is nested more than 64 levels deep"


def test_the_limit_itself_is_allowed_and_one_more_is_not() -> None:
    check_depth(nested(MAX_DEPTH))
    json.loads(nested(MAX_DEPTH))  # and a parser reads it
    with pytest.raises(TooDeep):
        check_depth(nested(MAX_DEPTH + 1))


def test_levels_are_counted_as_they_nest_not_in_total() -> None:
    check_depth(json.dumps([[1]] * 10_000))


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"note": "[" * 1000, "quoted": '\\"[[[' * 100, "nested": [{"key": "}]" * 50}]})
    check_depth(text)
    check_depth(text.encode())


def test_bytes_are_read_in_the_encoding_json_detects() -> None:
    with pytest.raises(TooDeep):
        check_depth(nested(MAX_DEPTH + 1).encode("utf-16"), "dispute.json")
    check_depth(b"\xff\xfe\xff")  # not JSON text: left to the parser to say


def test_the_limit_is_a_value_error_for_callers_that_only_know_those() -> None:
    assert issubclass(TooDeep, ValueError)
