"""Validation errors in plain words: what is wrong and what is allowed, never a regex or pydantic's
own phrasing ("String should match pattern '^[^\\x00-\\x20…'", "List should have at least 1 item
after validation"). Every message a person reads about a field comes through `plain_message`:
API answers, a record's `error`, a dead letter's reason, a configuration error at cold start.

A text field constrained by a pattern says what the pattern means through `matching`, which
records the rule beside the pattern; the schema still shows the pattern to machines.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any

from pydantic import Field
from pydantic_core.core_schema import ErrorType

_RULES: dict[str, str] = {}
# pydantic's own error types; any other is one of ours (PydanticCustomError), already plain.
_PYDANTIC_TYPES = frozenset(typing.get_args(ErrorType))


def matching(pattern: str, rule: str) -> Any:
    """A `Field(pattern=...)` whose refusal says `rule` ("must not contain spaces"), not the pattern."""
    return Field(pattern=described_pattern(pattern, rule))


def described_pattern(pattern: str, rule: str) -> str:
    """`pattern`, whose refusal (wherever it is used: a field, a path parameter) says `rule`."""
    _RULES[pattern] = rule
    return pattern


def _items(count: Any) -> str:
    return "1 item" if count == 1 else f"{count} items"


def _characters(count: Any) -> str:
    return "1 character" if count == 1 else f"{count} characters"


def _expected(context: Mapping[str, Any]) -> str:
    # pydantic lists the allowed values as "'a' or 'b'" / "'a', 'b' or 'c'".
    return str(context.get("expected", "one of the allowed values")).replace("'", "")


def _by_type(kind: str, context: Mapping[str, Any]) -> str | None:
    fixed = {
        "missing": "is required",
        "extra_forbidden": "is not a field of this request: leave it out",
        "string_type": "must be text (a JSON string)",
        "string_sub_type": "must be text (a JSON string)",
        "string_unicode": "must be text in UTF-8",
        "int_type": "must be a whole number",
        "int_parsing": "must be a whole number",
        "int_from_float": "must be a whole number, without a fraction",
        "int_parsing_size": "is too large a number",
        "url_too_long": "is too long for a URL",
        "float_type": "must be a number",
        "float_parsing": "must be a number",
        "bool_type": "must be true or false",
        "bool_parsing": "must be true or false",
        "list_type": "must be a list (a JSON array)",
        "dict_type": "must be an object (a JSON object of named fields)",
        "model_type": "must be an object (a JSON object of named fields)",
        "model_attributes_type": "must be an object (a JSON object of named fields)",
        "json_invalid": "is not valid JSON",
        "json_type": "must be JSON text",
        "url_type": "must be a URL, such as https://api.example.com",
        "url_parsing": "must be a URL, such as https://api.example.com",
        "url_scheme": "must be an http or https URL",
        "none_required": "must be left out",
        "union_tag_not_found": "is required",
        "string_pattern_mismatch": "has characters or a shape that is not allowed",
    }
    if kind in fixed:
        return fixed[kind]
    if kind == "string_too_short":
        least = context.get("min_length", 1)
        return "must not be empty" if least == 1 else f"must be at least {_characters(least)} long"
    if kind == "string_too_long":
        return f"must be at most {_characters(context.get('max_length'))} long"
    if kind == "too_short":
        least = context.get("min_length", 1)
        return "must list at least one item" if least == 1 else f"must list at least {_items(least)}"
    if kind == "too_long":
        return f"must list at most {_items(context.get('max_length'))}"
    if kind in ("literal_error", "enum", "union_tag_invalid"):
        return f"must be {_expected(context)}"
    bounds = {
        "greater_than": "greater than",
        "greater_than_equal": "at least",
        "less_than": "less than",
        "less_than_equal": "at most",
    }
    if kind in bounds:
        limit = next(iter(context.values()), "the limit")
        return f"must be {bounds[kind]} {limit}"
    return None


def plain_message(error: Mapping[str, Any]) -> str:
    """One validation error (pydantic's `ErrorDetails`, or Powertools' copy of it) in plain words."""
    kind = str(error.get("type", ""))
    context = error.get("ctx") or {}
    message = str(error.get("msg", "is not valid"))
    if kind == "string_pattern_mismatch" and str(context.get("pattern")) in _RULES:
        return _RULES[str(context["pattern"])]
    if kind in ("value_error", "assertion_error"):
        # Our validators' own sentences, e.g. "must be greater than 0".
        return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    plain = _by_type(kind, context)
    if plain is not None:
        return plain
    # A custom error of ours (PydanticCustomError) is already plain; anything else of pydantic's is
    # turned from its "Input should be ..." into the message's own terms.
    for phrase, replacement in (("Input should be", "must be"), ("Input should have", "must have")):
        if message.startswith(phrase):
            return replacement + message[len(phrase) :]
    if kind in _PYDANTIC_TYPES:
        # Read after a field's name ("size: ..."), a sentence of pydantic's starts in lower case.
        return message[:1].lower() + message[1:]
    return message
