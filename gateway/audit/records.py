"""One decision-log record: OPA's decision-log event (what OPA's own log tooling reads) plus
the gateway's indexed fields, the request's HTTP outcome and the hash chain.

A record is built unsealed by the Authorizer (`seq`, `prev_hash` and `hash` empty), masked
by the writer, then sealed by the log it is appended to: `seq` is its place in the one chain
every replica shares, `prev_hash` its predecessor's `hash`, and `hash` the SHA-256 of its own
canonical encoding (below), so an edited, removed or reordered record breaks the chain.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

# The `prev_hash` of the first record ever written.
GENESIS = "0" * 64


class HTTPInfo(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """The request that asked for the decision; `status` is the response's, known once the
    response starts (absent for a decision taken outside an HTTP request)."""

    method: str | None = None
    path: str | None = None
    status: int | None = None


class BundleInfo(msgspec.Struct, kw_only=True, frozen=True):
    """OPA's `bundles.<name>.revision`: the policy revision that decided."""

    revision: str


class DecisionRecord(msgspec.Struct, kw_only=True, frozen=True):
    # OPA's decision-log event fields.
    decision_id: str
    path: str  # with slashes, as OPA writes it: "gateway/authz/decision"
    input: Any
    result: Any
    timestamp: str  # RFC 3339, UTC
    bundles: dict[str, BundleInfo]
    labels: dict[str, str]  # id (gateway instance), version, engine
    metrics: dict[str, int] = msgspec.field(default_factory=dict)
    req_id: str | None = None
    erased: list[str] = msgspec.field(default_factory=list)  # JSON pointers masking removed
    masked: list[str] = msgspec.field(default_factory=list)  # JSON pointers masking replaced
    # Where the (masked) input was cut to keep the log bounded, and why: `input_size` (over
    # GATEWAY_AUDIT_MAX_INPUT_BYTES) or `subject_volume` (over the subject's budget);
    # `input_bytes` is the size it had (gateway/audit/volume.py).
    cut: list[str] = msgspec.field(default_factory=list)
    cut_reason: str | None = None
    input_bytes: int | None = None
    # Set only on a record as a reader about one enterprise gets it (never stored): the JSON
    # pointers left out because they are about other enterprises. Its `hash` is then the
    # stored record's, which the shown one no longer hashes to.
    redacted: list[str] = msgspec.field(default_factory=list)
    # The gateway's own: the HTTP request and its outcome.
    http: HTTPInfo = msgspec.field(default_factory=HTTPInfo)
    # Indexed for /v1/audit/decisions queries.
    subject_id: str | None = None
    enterprise_id: str | None = None
    action: str | None = None
    resource_id: str | None = None
    allowed: bool | None = None
    # `list`: the decision filtered a list (tools/list …: the item shown or not), `call`: an
    # attempt to use the item; None for decisions that are neither.
    purpose: str | None = None
    # A page decision (marketplace listings): how many of its items were allowed, denied.
    items_allowed: int | None = None
    items_denied: int | None = None
    # The chain (set when the record is appended).
    seq: int = 0
    prev_hash: str = ""
    hash: str = ""

    @property
    def revision(self) -> str:
        bundle = self.bundles.get("gateway")
        return bundle.revision if bundle else ""


_canonical = msgspec.json.Encoder(order="sorted")
_encode = msgspec.json.Encoder().encode


def canonical_bytes(fields: dict[str, Any]) -> bytes:
    """A record's canonical encoding: the JSON object of every field except `hash`, keys
    sorted at every depth, no whitespace (msgspec's JSON)."""
    return _canonical.encode({k: v for k, v in fields.items() if k != "hash"})


def hash_of(fields: dict[str, Any]) -> str:
    """The SHA-256 (hex) a record with these fields must carry as its `hash`."""
    return hashlib.sha256(canonical_bytes(fields)).hexdigest()


def seal(record: DecisionRecord, seq: int, prev_hash: str) -> tuple[DecisionRecord, bytes]:
    """The record as the chain's `seq`-th, after `prev_hash`; and its stored JSON."""
    chained = msgspec.structs.replace(record, seq=seq, prev_hash=prev_hash, hash="")
    # Through JSON: `input` may be the raw JSON the engine was sent (msgspec.Raw).
    fields = msgspec.json.decode(_encode(chained))
    sealed = msgspec.structs.replace(chained, hash=hash_of(fields))
    return sealed, _encode(sealed)


def decode_record(raw: bytes | str) -> DecisionRecord:
    return msgspec.json.decode(raw, type=DecisionRecord)
