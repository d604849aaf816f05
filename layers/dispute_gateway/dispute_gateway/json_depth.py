"""How deep a JSON text may nest, checked before anything parses it.

Python's `json` parser, Powertools' `json_body` and pydantic all recurse once per level: a body
of a few hundred kilobytes of `[` ends in a RecursionError (an API 500 with a long traceback,
a crashed batch) instead of a plain refusal. The scan here keeps one counter and no stack.
No request, queue message or manifest of the service nests more than a handful of levels.
"""

from __future__ import annotations

import json
import re

MAX_DEPTH = 64

# A JSON string as one token (its brackets do not count), or a bracket. An unterminated string
# leaves its quote unmatched and the rest is scanned as if outside: the text is not JSON anyway.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_OPENING = frozenset("[{")


class TooDeep(ValueError):
    """A JSON text nested deeper than MAX_DEPTH; `str()` is a plain sentence naming what it is."""

    def __init__(self, what: str, limit: int = MAX_DEPTH) -> None:
        super().__init__(f"{what} is nested more than {limit} levels deep")


def check_depth(text: str | bytes, what: str = "the body", limit: int = MAX_DEPTH) -> None:
    """Raises TooDeep when `text` nests arrays and objects more than `limit` levels deep.

    Only the nesting is checked: whether the text is JSON at all is left to the parser."""
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode(json.detect_encoding(text))
        except (UnicodeDecodeError, LookupError):
            return  # not JSON text: the parser says so
    depth = 0
    for token in _TOKENS.finditer(text):
        bracket = token.group()
        if bracket in _OPENING:
            depth += 1
            if depth > limit:
                raise TooDeep(what, limit)
        elif bracket[0] != '"':
            depth -= 1
