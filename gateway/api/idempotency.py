"""`Idempotency-Key` on the POSTs that create (ADR-0042; the IETF httpapi draft): a retried
create gets the first answer — status, body, Location, ETag — and creates nothing new.

- A key belongs to the caller (subject) and the route: another caller's same key is another
  key, so a replay only ever goes to whoever made the first request.
- The same key with another payload (body or query) is a 422; while the first request still
  runs, a 409.
- Only successes are kept. A create that failed (a denial, a 4xx, a 503) wrote nothing, so
  the key is released and a retry runs — and is decided by the policy — again: a denial is
  never replayed after the policy changed, and a failure never replayed as success.
- The policy decides a replay too: it re-reads the created resource as the caller (a read
  decision, logged), so a caller who may no longer see it gets that 404 or 403, not the body.
- What is kept is bounded (stores/idempotency.py): a subject's oldest answers are forgotten
  beyond a count and a byte bound, and a body over MAX_KEPT_BODY_BYTES is not kept: its
  replay answers the re-read resource as it is then (201, the same Location, its ETag then).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Protocol

import msgspec
from litestar import Request, Response
from litestar.enums import MediaType
from litestar.params import HeaderParameter

from gateway.domain.ids import whole
from gateway.domain.subjects import Subject
from gateway.domain.versions import etag_of_bytes, representation
from gateway.errors import (
    BackendUnavailable,
    Conflict,
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
)
from gateway.stores.idempotency import (
    MAX_KEPT_BODY_BYTES,
    IdempotencyStore,
    KeyRecord,
    StoredResponse,
)

log = logging.getLogger(__name__)

IDEMPOTENCY_KEY = "Idempotency-Key"
# UUIDs, ULIDs and base64 tokens fit; nothing that could smuggle a separator into a store key.
_KEY = r"[A-Za-z0-9._~:+/=-]{1,128}"
KEY_PATTERN = re.compile(_KEY)
# The header as the OpenAPI document states it: the key, bare or quoted, with SP/HTAB around.
HEADER_PATTERN = whole(rf'[ \t]*(?:{_KEY}|"{_KEY}")[ \t]*')
KEY_RULE = "1 to 128 of A-Z a-z 0-9 . _ ~ : + / = - (optionally in double quotes)"

IdempotencyKeyHeader = Annotated[
    str | None,
    HeaderParameter(
        name=IDEMPOTENCY_KEY,
        required=False,
        schema_extra={"pattern": HEADER_PATTERN},  # documents parse_key's grammar
        description=(
            "Optional. A retry with the same key (same caller, route and payload) gets the "
            "first create's answer and creates nothing; another payload is a 422, a retry "
            f"while the first still runs a 409. Key: {KEY_RULE}."
        ),
    ),
]


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


def parse_key(header: str | None) -> str | None:
    """The key, or None without the header; a 400 naming the header when malformed. The
    draft's form is a structured-field string (`"…"`); a bare token is taken too."""
    if header is None:
        return None
    value = header.strip(" \t")
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if not KEY_PATTERN.fullmatch(value):
        raise InvalidInput.field(IDEMPOTENCY_KEY, KEY_RULE)
    return value


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:  # length-prefixed: no two different part lists hash alike
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def scope_of(method: str, path: str, key: str) -> str:
    """Which key of the caller's this is: the route and the key (the store adds the caller)."""
    return _digest(method.encode(), path.encode(), key.encode())


def fingerprint_of(query: list[tuple[str, str]], payload: Any) -> str:
    """The request's payload: its query parameters and its decoded body (so whitespace or key
    order in the JSON is not "another payload")."""
    return _digest(representation(sorted(query)), representation(payload))


def _stored(created: _Identified, collection: str) -> StoredResponse:
    """The 201: the created resource, its Location (the collection's path and its id) and
    its ETag."""
    body = representation(created)
    return StoredResponse(
        status_code=201,
        body=body,
        headers={"Location": f"{collection}/{created.id}", "ETag": etag_of_bytes(body)},
        resource_id=created.id,
    )


def _kept(stored: StoredResponse) -> StoredResponse:
    """What is kept of an answer: all of it, or, over the bound, all but its body."""
    if stored.body is None or len(stored.body) <= MAX_KEPT_BODY_BYTES:
        return stored
    location = {"Location": stored.headers["Location"]}
    return msgspec.structs.replace(stored, body=None, headers=location)


def _answer(stored: StoredResponse) -> Response[Any]:
    return Response(
        stored.body,
        status_code=stored.status_code,
        media_type=MediaType.JSON,
        headers=stored.headers,
    )


async def create_once(
    *,
    keys: IdempotencyStore,
    subject: Subject,
    request: Request[Any, Any, Any],
    header: str | None,
    payload: Any,
    create: Callable[[], Awaitable[_Identified]],
    reread: Callable[[str], Awaitable[object]],
) -> Response[Any]:
    """Run `create` once per Idempotency-Key (every time without one) and answer 201 with the
    created resource, located under the request's path by its id. `reread(id)` reads it as
    the caller: the policy's say on a replay."""
    collection = request.url.path.rstrip("/")
    key = parse_key(header)
    if key is None:
        return _answer(_stored(await create(), collection))
    scope = scope_of(request.method, request.url.path, key)
    fingerprint = fingerprint_of(list(request.query_params.multi_items()), payload)
    token = secrets.token_hex(16)
    held = await keys.begin(subject.id, scope, fingerprint, token)
    if held is not None:
        return await _replay(held, fingerprint, reread)
    try:
        created = await create()
    except Exception:
        # Nothing was created: free the key so a retry is decided again. If Redis is down
        # too, the claim's lease frees it.
        with contextlib.suppress(BackendUnavailable):
            await keys.release(subject.id, scope, token)
        raise
    stored = _stored(created, collection)
    done = KeyRecord(token=token, fingerprint=fingerprint, response=_kept(stored))
    try:
        kept = await keys.complete(subject.id, scope, done)
    except BackendUnavailable:
        kept = False
    if not kept:
        # The create happened: answer it. Only a retry after the lease could repeat it.
        log.warning("the response to an Idempotency-Key create could not be kept")
    return _answer(stored)


async def _replay(
    held: KeyRecord, fingerprint: str, reread: Callable[[str], Awaitable[object]]
) -> Response[Any]:
    if held.fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            f"{IDEMPOTENCY_KEY} was already used for a different request; use a new key"
        )
    if held.response is None:
        raise Conflict(
            f"a request with this {IDEMPOTENCY_KEY} is still in progress; retry once it answered"
        )
    try:
        current = await reread(held.response.resource_id)
    except NotFound:
        # Not the read's own 404: the caller's request named no id, and gets none back.
        raise NotFound(
            f"what this {IDEMPOTENCY_KEY} created is not there, or not visible to you"
        ) from None
    if held.response.body is None:  # too large to keep: the resource as it is now
        body = representation(current)
        headers = {**held.response.headers, "ETag": etag_of_bytes(body)}
        return _answer(msgspec.structs.replace(held.response, body=body, headers=headers))
    return _answer(held.response)


class CreateOnce:
    """`create_once` for one POST: the caller, the request and its Idempotency-Key bound by
    its provider (gateway/api/deps.py), so a handler names only what it creates."""

    __slots__ = ("_header", "_keys", "_request", "_subject")

    def __init__(
        self,
        keys: IdempotencyStore,
        subject: Subject,
        request: Request[Any, Any, Any],
        header: str | None,
    ) -> None:
        self._keys, self._subject, self._request, self._header = keys, subject, request, header

    async def __call__(
        self,
        payload: Any,
        *,
        create: Callable[[], Awaitable[_Identified]],
        reread: Callable[[str], Awaitable[object]],
    ) -> Response[Any]:
        return await create_once(
            keys=self._keys,
            subject=self._subject,
            request=self._request,
            header=self._header,
            payload=payload,
            create=create,
            reread=reread,
        )
