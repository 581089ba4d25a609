"""Masking by policy, OPA's way: `data.system.log.mask` is evaluated on the decision event
(`input.input`, `input.result`, `input.path`, …) and answers JSON pointers to erase
(`"/input/resource/headers/Authorization"`) or `{"op": "upsert", "path": …, "value": …}`
objects to replace. Erased pointers are listed in the record's `erased`, upserted ones in
`masked`. OPA applies the same rule to its own decision log, so one policy masks both.

The mask sees the event without `decision_id`, `timestamp` and the request id (see Masker).

Fail closed: when the mask cannot be evaluated, or answers something that is not a list of
pointers and upserts, the whole input is erased (`erased: ["/input"]`) rather than logged
unmasked.
"""

from __future__ import annotations

import copy
import hashlib
import logging
from collections import OrderedDict
from typing import Any

import msgspec

from gateway.audit.records import DecisionRecord
from gateway.errors import BackendUnavailable
from gateway.policy.engine import LOG_MASK, UNDEFINED, PolicyEngine
from gateway.policy.memo import memo_key

log = logging.getLogger(__name__)

_encode = msgspec.json.Encoder().encode
_WHOLE_INPUT = "/input"


class Upsert(msgspec.Struct, kw_only=True, frozen=True):
    op: str
    path: str
    value: Any = None


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _split(pointer: str) -> list[str] | None:
    if not pointer.startswith("/"):
        return None
    return [_unescape(t) for t in pointer[1:].split("/")]


def _parent(doc: Any, tokens: list[str], create: bool) -> tuple[Any, str] | None:
    """The container holding the pointer's last token, or None when it does not exist."""
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict):
            if token not in node:
                if not create:
                    return None
                node[token] = {}
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node, tokens[-1]


def _erase(event: dict[str, Any], pointer: str) -> bool:
    tokens = _split(pointer)
    found = _parent(event, tokens, create=False) if tokens else None
    if found is None:
        return False
    node, key = found
    if isinstance(node, dict) and key in node:
        del node[key]
        return True
    if isinstance(node, list) and key.isdigit() and int(key) < len(node):
        node[int(key)] = None  # removing would shift the indexes after it
        return True
    return False


def _upsert(event: dict[str, Any], pointer: str, value: Any) -> bool:
    tokens = _split(pointer)
    found = _parent(event, tokens, create=True) if tokens else None
    if found is None:
        return False
    node, key = found
    if isinstance(node, dict):
        node[key] = value
        return True
    if isinstance(node, list) and key.isdigit() and int(key) < len(node):
        node[int(key)] = value
        return True
    return False


def _parse(answer: Any) -> list[str | Upsert] | None:
    if answer is UNDEFINED:
        return []  # no mask rule: nothing to mask (OPA's behaviour)
    if not isinstance(answer, list):
        return None
    try:
        return [item if isinstance(item, str) else msgspec.convert(item, Upsert) for item in answer]
    except msgspec.ValidationError:
        return None


def _plain(value: Any) -> Any:
    """A copy to edit: the Authorizer keeps the input as the raw JSON it sent."""
    if isinstance(value, msgspec.Raw):
        return msgspec.json.decode(value)
    return copy.deepcopy(value)


def _without_request_id(doc: Any) -> Any:
    request = doc.get("request") if isinstance(doc, dict) else None
    if not isinstance(request, dict) or "req_id" not in request:
        return doc
    return {**doc, "request": {k: v for k, v in request.items() if k != "req_id"}}


class Masker:
    """Evaluates the mask for each record, remembering recent answers.

    The mask's input is the event without what differs between two otherwise identical
    decisions — `decision_id`, `timestamp` and the request id (which the gateway only
    accepts as `[A-Za-z0-9._:-]`, so it is never a secret) — so the same decision asked
    again (every merged view of a user, say) is masked from memory: the answer is a function
    of that input and the policy revision, both part of the key. On the embedded engine a
    mask evaluation costs ~0.6 ms, as much as the decision itself."""

    def __init__(self, engine: PolicyEngine, *, remember: int = 4096) -> None:
        self._engine = engine
        self._remember = remember
        self._answers: OrderedDict[tuple[str, bytes], list[str | Upsert]] = OrderedDict()
        self.failures = 0
        self.evaluations = 0

    def _raw_key(self, record: DecisionRecord) -> tuple[str, bytes] | None:
        """For an input still in the JSON the engine was sent: the event's identity without
        decoding it — those bytes with the request id cut out (as the decision memo cuts it,
        gateway/policy/memo.py), the path, result and labels. None for a decoded input."""
        if not isinstance(record.input, msgspec.Raw):
            return None
        material = b"\n".join(
            (
                b"raw",
                record.path.encode(),
                memo_key(bytes(record.input), record.req_id),
                _encode(record.result),
                _encode(record.labels),
            )
        )
        return (self._engine.revision, hashlib.sha256(material).digest())

    def _remember_rules(self, key: tuple[str, bytes], rules: list[str | Upsert]) -> None:
        self._answers[key] = rules
        if len(self._answers) > self._remember:
            self._answers.popitem(last=False)

    async def _rules(self, record: DecisionRecord, doc: Any) -> list[str | Upsert] | None:
        event = _encode(
            {
                "path": record.path,
                "input": _without_request_id(doc),
                "result": record.result,
                "labels": record.labels,
            }
        )
        key = (self._engine.revision, hashlib.sha256(event).digest())
        known = self._answers.get(key)
        if known is not None:
            self._answers.move_to_end(key)
            return known
        self.evaluations += 1
        try:
            answer = (await self._engine.evaluate(LOG_MASK, event)).result
        except BackendUnavailable as exc:
            log.error("decision %s: data.system.log.mask failed: %s", record.decision_id, exc)
            return None
        rules = _parse(answer)
        if rules is None:
            log.error("decision %s: data.system.log.mask answered out of shape", record.decision_id)
            return None
        self._remember_rules(key, rules)
        return rules

    async def mask(self, record: DecisionRecord) -> DecisionRecord:
        raw_key = self._raw_key(record)
        if raw_key is not None and self._answers.get(raw_key) == []:
            # Known to mask nothing: the engine's JSON is kept as it is, never decoded here.
            self._answers.move_to_end(raw_key)
            return record
        doc = _plain(record.input)  # a copy: the masks edit it
        rules = await self._rules(record, doc)
        if raw_key is not None and rules is not None:
            self._remember_rules(raw_key, rules)
        if rules is None:
            self.failures += 1  # fail closed: nothing of the input is logged
            return msgspec.structs.replace(record, input=None, erased=[_WHOLE_INPUT])
        if not rules:
            return msgspec.structs.replace(record, input=doc)
        # The policy may point at `/input/...` or `/result/...`: the event is the document.
        doc = {"input": doc, "result": copy.deepcopy(record.result)}
        erased: list[str] = []
        masked: list[str] = []
        for rule in sorted(rules, key=lambda r: r if isinstance(r, str) else r.path):
            if isinstance(rule, str):
                if _erase(doc, rule):
                    erased.append(rule)
            elif rule.op == "upsert" and _upsert(doc, rule.path, rule.value):
                masked.append(rule.path)
        return msgspec.structs.replace(
            record,
            input=doc.get("input"),
            result=doc.get("result"),
            erased=erased,
            masked=masked,
        )
