"""Decision memoization: the same question, under the same policy revision, gets the answer
already computed — and is still recorded in the decision log as a decision of its own.

A decision is a function of the policy (its revision: modules and data) and the input —
unless the policy reads the clock, randomness or the network, or reads the request id (which
differs on every request and is left out of the key). `memo_blockers` finds those in the
policy's modules; when there is any, nothing is memoized for that revision.

The key is the input exactly as encoded for the engine with the request id removed: two
inputs share a key only when every other byte is the same.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Final

from gateway.policy.input_refs import strip_code
from gateway.policy.sources import PACKAGE

DEFAULT_MEMO_BYTES: Final = 32 * 1024 * 1024

# Builtins whose value is not a function of input and data.
_IMPURE = re.compile(
    r"\b(?:time\.now_ns|rand\.intn|uuid\.rfc4122|uuid\.parse|http\.send|net\.lookup_ip_addr"
    r"|opa\.runtime|io\.jwt\.decode_verify|crypto\.x509\.parse_and_verify_certificates\w*)\b"
)
# The request id, by name, or the input or `input.request` taken whole (then iterated).
_REQUEST_ID = re.compile(r"\breq_id\b")
_WHOLE_INPUT = re.compile(r"\binput(?:\.request)?(?![\w.])")


def memo_blockers(modules: Mapping[str, str]) -> list[str]:
    """`file:line: why` for each place that makes decisions unfit to memoize (the gateway's
    packages; tests excluded)."""
    found = []
    for path, text in sorted(modules.items()):
        package = PACKAGE.search(text)
        if path.endswith("_test.rego") or package is None:
            continue
        if not (package[1] + ".").startswith("gateway."):
            continue
        code = strip_code(text)  # so `"time.now_ns"` in a message is not a call
        for pattern, why in (
            (_IMPURE, "reads the clock, randomness or the network"),
            (_REQUEST_ID, "reads the request id"),
            (_WHOLE_INPUT, "takes the input or input.request whole"),
        ):
            for match in pattern.finditer(code):
                line = code.count("\n", 0, match.start()) + 1
                found.append(f"{path}:{line}: {match.group(0)} {why}")
    return found


def memo_key(raw_input: bytes, req_id: str | None) -> bytes:
    """The input without its request id. The id is `[A-Za-z0-9._:-]` (or null), and a quote
    inside a JSON string is escaped, so `"req_id":"…"` occurs once: as the request's field."""
    value = b"null" if req_id is None else b'"' + req_id.encode() + b'"'
    return raw_input.replace(b'"req_id":' + value, b"", 1)


class DecisionMemo:
    """Least-recently-used answers, bounded by the bytes of their keys, for one revision at a
    time (a new revision empties it)."""

    def __init__(self, max_bytes: int = DEFAULT_MEMO_BYTES) -> None:
        self._max_bytes = max_bytes
        self._answers: OrderedDict[tuple[str, bytes], Any] = OrderedDict()
        self._bytes = 0
        self._revision: str | None = None
        self.hits = 0
        self.misses = 0

    def _for(self, revision: str) -> None:
        if revision != self._revision:
            self._answers.clear()
            self._bytes = 0
            self._revision = revision

    def get(self, revision: str, entrypoint: str, key: bytes) -> Any:
        """The remembered answer, or None."""
        self._for(revision)
        found = self._answers.get((entrypoint, key))
        if found is None:
            self.misses += 1
            return None
        self._answers.move_to_end((entrypoint, key))
        self.hits += 1
        return found

    def put(self, revision: str, entrypoint: str, key: bytes, answer: Any) -> None:
        self._for(revision)
        if (entrypoint, key) in self._answers or len(key) > self._max_bytes // 16:
            return
        self._answers[(entrypoint, key)] = answer
        self._bytes += len(key)
        while self._bytes > self._max_bytes:
            (_, dropped), _ = self._answers.popitem(last=False)
            self._bytes -= len(dropped)
