"""Decision memoization: the same question, under the same policy revision, gets the answer
already computed — and is still recorded in the decision log as a decision of its own.

A decision is a function of the policy (its revision: modules and data) and the input —
unless the policy reads the clock, randomness or the network, or reads the request id (which
differs on every request and is left out of the key). `memo_blockers` finds those in the
policy's modules, from their references (gateway/policy/rego_refs.py); when there is any,
nothing is memoized for that revision. It decides conservatively where a reference cannot be
resolved: `input` or `input.request` taken whole (bound to a variable, iterated with
`some`, passed to a function) or indexed by a computed key (`input.request[k]`) may reach
the request id, so it blocks too. Every module counts but tests and OPA's own `system.*`
packages (the decision-log mask, evaluated on log records): a helper in a package of its own
is evaluated in decisions like any rule.

The key is the input exactly as encoded for the engine with the request id removed: two
inputs share a key only when every other byte is the same.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Final

from gateway.policy.rego_refs import Ref, input_references, package_of, references

DEFAULT_MEMO_BYTES: Final = 32 * 1024 * 1024

# Builtins whose value is not a function of input and data: those OPA's capabilities mark
# `nondeterministic` (a test holds this list to `opa capabilities`), and those that read
# the clock to check a validity period.
IMPURE_BUILTINS: Final = frozenset(
    {
        "http.send",
        "io.jwt.decode_verify",
        "io.jwt.encode_sign",
        "io.jwt.encode_sign_raw",
        "json.match_schema",
        "json.verify_schema",
        "net.lookup_ip_addr",
        "opa.runtime",
        "rand.intn",
        "time.now_ns",
        "uuid.rfc4122",
        "crypto.x509.parse_and_verify_certificates",
        "crypto.x509.parse_and_verify_certificates_with_options",
        "providers.aws.sign_req",
    }
)


def _reads_request_id(ref: Ref) -> str | None:
    """Why an input reference makes decisions unfit to memoize, or None."""
    path = ref.path
    if path[:2] == ("request", "req_id"):
        return "req_id reads the request id"
    # All of it, or a computed key of it: what is read may be the request id.
    whole_input = not path or path[0] is None
    whole_request = path[:1] == ("request",) and (len(path) == 1 or path[1] is None)
    if whole_input or whole_request:
        return f"{ref.text(2)} takes the input or input.request whole"
    return None


def memo_blockers(modules: Mapping[str, str]) -> list[str]:
    """`file:line: why` for each place that makes decisions unfit to memoize (tests and
    OPA's `system.*` packages excluded)."""
    found: list[str] = []
    for path, text in sorted(modules.items()):
        package = package_of(text)
        if path.endswith("_test.rego") or package is None or package.split(".")[0] == "system":
            continue
        blockers = [
            (ref.line, ref.col, f"{ref.name} reads the clock, randomness or the network")
            for ref in references(text)
            if ref.role == "read" and ref.name in IMPURE_BUILTINS
        ]
        for ref in input_references(text):
            why = _reads_request_id(ref) if ref.role != "with" else None
            if why is not None:
                blockers.append((ref.line, ref.col, why))
        found.extend(f"{path}:{line}: {why}" for line, _, why in sorted(blockers))
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
