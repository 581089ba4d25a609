"""The OpenAPI document states the If-Match and Idempotency-Key grammars as patterns; the
gateway parses them with its own code. Here the two must agree on every string: a header the
pattern allows is never a 400, and one it refuses is never taken."""

from __future__ import annotations

import re

import hypothesis.strategies as st
import pytest
from hypothesis import example, given, settings

from gateway.api.idempotency import HEADER_PATTERN, parse_key
from gateway.domain.versions import IF_MATCH_PATTERN, IfMatch
from gateway.errors import InvalidInput, UnprocessableInput

# The characters the grammars turn on, and a few they must refuse.
ALPHABET = ' \t*",/Wa9=~\x21\x7f\x80\xff\x00\n\r\xa0\u2028é'
HEADERS = st.text(alphabet=ALPHABET, max_size=24)


def _well_formed(parse: object, header: str) -> bool:
    try:
        parse(header)  # type: ignore[operator]
    except UnprocessableInput:
        return True  # right form, refused for another reason (more than 32 tags)
    except InvalidInput:
        return False
    return True


@pytest.mark.parametrize(
    ("pattern", "parse"),
    [(IF_MATCH_PATTERN, IfMatch.parse), (HEADER_PATTERN, parse_key)],
    ids=["If-Match", "Idempotency-Key"],
)
@settings(max_examples=3000, deadline=None, derandomize=True)
@given(header=HEADERS)
@example(header='"a",,W/"b" , ')
@example(header=" * ")
@example(header='"a"\n')
@example(header='"key"')
def test_the_pattern_and_the_parser_agree(pattern: str, parse: object, header: str) -> None:
    assert (re.search(pattern, header) is not None) == _well_formed(parse, header)


@pytest.mark.parametrize(
    ("pattern", "parse"),
    [(IF_MATCH_PATTERN, IfMatch.parse), (HEADER_PATTERN, parse_key)],
    ids=["If-Match", "Idempotency-Key"],
)
@settings(max_examples=500, deadline=None, derandomize=True)
@given(data=st.data())
def test_whatever_the_pattern_generates_is_taken(
    pattern: str, parse: object, data: st.DataObject
) -> None:
    header = data.draw(st.from_regex(pattern))
    assert _well_formed(parse, header), header
