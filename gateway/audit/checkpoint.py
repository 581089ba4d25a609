"""Retention checkpoints: when retention removes the oldest records, the log keeps a
checkpoint of the last one removed (its `seq` and `hash`, when, and why), signed with an
HMAC-SHA256 key, so `verify` can tell a trim from a gap. A record removed by anyone else
leaves either no checkpoint or one whose MAC does not hold: a gap, reported as one.

The key: GATEWAY_AUDIT_CHECKPOINT_KEY, else derived from GATEWAY_JWT_SECRET (HMAC-SHA256 of
the label below under that secret, so the checkpoint key is not the token key), else none:
checkpoints are then unsigned and `verify` says it cannot tell a trim from a gap.
Whoever holds the key can forge a checkpoint: keep it where the Redis writers are not.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal

import msgspec

_LABEL = b"mcp-gateway decision-log checkpoint v1"
_canonical = msgspec.json.Encoder(order="sorted")

Signature = Literal["signed", "unsigned", "forged"]


class Checkpoint(msgspec.Struct, kw_only=True, frozen=True):
    """Records up to and including `seq` were removed by retention; `hash` is that record's,
    so the first record kept must chain to it."""

    seq: int
    hash: str
    at: str = ""  # when (RFC 3339 UTC)
    reason: str = ""  # "bytes" (over GATEWAY_AUDIT_MAX_BYTES) or "age"
    mac: str = ""  # hex HMAC-SHA256 of the other fields; "" when no key was configured


def checkpoint_key(explicit: str | None, jwt_secret: str | None) -> bytes | None:
    if explicit:
        return explicit.encode()
    if jwt_secret:
        return hmac.new(jwt_secret.encode(), _LABEL, hashlib.sha256).digest()
    return None


class CheckpointSigner:
    def __init__(self, key: bytes | None) -> None:
        self._key = key

    @property
    def signs(self) -> bool:
        return self._key is not None

    def _mac(self, checkpoint: Checkpoint) -> str:
        assert self._key is not None
        body = _canonical.encode(
            {
                "seq": checkpoint.seq,
                "hash": checkpoint.hash,
                "at": checkpoint.at,
                "reason": checkpoint.reason,
            }
        )
        return hmac.new(self._key, body, hashlib.sha256).hexdigest()

    def sign(self, seq: int, hash_: str, at: str, reason: str) -> Checkpoint:
        unsigned = Checkpoint(seq=seq, hash=hash_, at=at, reason=reason)
        if self._key is None:
            return unsigned
        return msgspec.structs.replace(unsigned, mac=self._mac(unsigned))

    def check(self, checkpoint: Checkpoint) -> Signature:
        if self._key is None or not checkpoint.mac:
            return "unsigned"
        good = hmac.compare_digest(self._mac(checkpoint), checkpoint.mac)
        return "signed" if good else "forged"
