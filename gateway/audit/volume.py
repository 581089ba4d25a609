"""What keeps one subject from pushing everyone else's records out of the log (issue 24):

- an input size cap: a masked input larger than `max_input_bytes` is cut — long strings are
  shortened, long lists shortened — and, if it is still too large, replaced by its skeleton
  (action, subject id, resource type and id). The record lists the JSON pointers it was cut
  at (`cut`) and says why (`cut_reason`), so nobody mistakes a cut input for the whole one.
- a per-subject volume budget: each subject may write `subject_bytes` of record JSON a
  window (a minute); beyond it, its records keep their indexed fields and result but not their
  input (`cut: ["/input"]`, `cut_reason: "subject_volume"`), and beyond `subject_records` a
  window they are not written one by one: they are counted and one `gateway/audit/suppressed`
  record per subject and window says how many, of which actions, allowed or denied.

Nothing is dropped unseen: a cut says where, a suppression is a record in the chain.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import msgspec

from gateway.audit.records import BundleInfo, DecisionRecord

SUPPRESSED_PATH = "gateway/audit/suppressed"
INPUT_SIZE = "input_size"
SUBJECT_VOLUME = "subject_volume"

_encode = msgspec.json.Encoder().encode
_MAX_STRING = 1024  # characters of one string kept when an input is over the cap
_MAX_ITEMS = 64  # items of one list kept when an input is over the cap


def _pointer(tokens: Sequence[str]) -> str:
    return "/input" + "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)


def _shortened(value: Any, at: list[str], cut: list[str]) -> Any:
    """`value` with strings over _MAX_STRING and lists over _MAX_ITEMS cut; `cut` collects
    the pointers."""
    if isinstance(value, str) and len(value) > _MAX_STRING:
        cut.append(_pointer(at))
        return value[:_MAX_STRING] + f"…[cut: {len(value) - _MAX_STRING} more characters]"
    if isinstance(value, list):
        kept = value[:_MAX_ITEMS]
        if len(value) > _MAX_ITEMS:
            cut.append(_pointer(at))
        return [_shortened(item, [*at, str(i)], cut) for i, item in enumerate(kept)]
    if isinstance(value, dict):
        return {k: _shortened(v, [*at, str(k)], cut) for k, v in value.items()}
    return value


def _decoded(value: Any) -> Any:
    """An input the masks left as the engine's JSON (gateway/audit/masking.py), as a value."""
    return msgspec.json.decode(value) if isinstance(value, msgspec.Raw) else value


def _skeleton(doc: Any) -> dict[str, Any]:
    """What a record keeps of an input it cannot keep: what was asked, by whom, about what."""
    doc = _decoded(doc)
    if not isinstance(doc, dict):
        return {}
    subject = doc.get("subject") if isinstance(doc.get("subject"), dict) else {}
    resource = doc.get("resource") if isinstance(doc.get("resource"), dict) else {}
    kept: dict[str, Any] = {}
    if "action" in doc:
        kept["action"] = doc["action"]
    if subject:
        kept["subject"] = {"id": subject.get("id")}
    if resource:
        kept["resource"] = {"type": resource.get("type"), "id": resource.get("id")}
    return kept


def cap_input(record: DecisionRecord, max_bytes: int) -> DecisionRecord:
    """The record with its (masked) input within `max_bytes` of JSON, and where it was cut."""
    if record.input is None:
        return record
    size = len(_encode(record.input))
    if size <= max_bytes:
        return record
    cut: list[str] = []
    shorter = _shortened(_decoded(record.input), [], cut)
    if len(_encode(shorter)) > max_bytes:
        shorter, cut = _skeleton(record.input), ["/input"]
    return msgspec.structs.replace(
        record, input=shorter, cut=cut, cut_reason=INPUT_SIZE, input_bytes=size
    )


class _Window(msgspec.Struct):
    started: float
    bytes: int = 0
    records: int = 0
    suppressed: int = 0
    allowed: int = 0
    denied: int = 0
    first: str = ""
    last: str = ""
    actions: dict[str, int] = msgspec.field(default_factory=dict)
    template: DecisionRecord | None = None


class SubjectVolume:
    """Per-subject budgets for one writer (so per replica: N replicas admit N budgets)."""

    def __init__(
        self, *, subject_bytes: int, subject_records: int, window_seconds: float = 60.0
    ) -> None:
        self._bytes = subject_bytes
        self._records = subject_records
        self._window = window_seconds
        self._windows: dict[str, _Window] = {}
        self.suppressed_total = 0

    def admit(
        self,
        records: Sequence[DecisionRecord],
        *,
        suppress: bool = True,
        now: float | None = None,
    ) -> list[DecisionRecord]:
        """What to write of `records`, in order: within budget as they are, over the byte
        budget without their input, over the record budget not at all (counted, and said in
        a summary record when the subject's window closes: see `due`)."""
        now = time.monotonic() if now is None else now
        kept: list[DecisionRecord] = []
        for record in records:
            subject = record.subject_id or ""
            window = self._windows.get(subject)
            if window is None or now - window.started >= self._window:
                if window is not None and window.suppressed:
                    kept.append(_summary(subject, window))
                window = self._windows[subject] = _Window(started=now)
            window.records += 1
            if suppress and window.records > self._records:
                self._suppress(window, record)
                continue
            size = len(_encode(record.input)) if record.input is not None else 0
            if window.bytes + size > self._bytes and record.input is not None:
                record = msgspec.structs.replace(
                    record,
                    input=_skeleton(record.input),
                    cut=["/input"],
                    cut_reason=SUBJECT_VOLUME,
                    input_bytes=size,
                )
                size = len(_encode(record.input))
            window.bytes += size
            kept.append(record)
        return kept

    def _suppress(self, window: _Window, record: DecisionRecord) -> None:
        self.suppressed_total += 1
        window.suppressed += 1
        window.template = window.template or record
        window.first = window.first or record.timestamp
        window.last = record.timestamp
        if record.allowed is True:
            window.allowed += 1
        elif record.allowed is False:
            window.denied += 1
        action = record.action or "-"
        if action in window.actions or len(window.actions) < 32:  # bounded
            window.actions[action] = window.actions.get(action, 0) + 1

    def due(self, now: float | None = None) -> list[DecisionRecord]:
        """Summaries of the windows that closed with records suppressed; windows that closed
        are forgotten (so the table holds the subjects of the last minute only)."""
        now = time.monotonic() if now is None else now
        out: list[DecisionRecord] = []
        for subject, window in list(self._windows.items()):
            if now - window.started >= self._window:
                if window.suppressed:
                    out.append(_summary(subject, window))
                del self._windows[subject]
        return out

    def next_due(self, now: float | None = None) -> float | None:
        """Seconds until the first window with suppressed records closes (None: none)."""
        now = time.monotonic() if now is None else now
        ends = [w.started + self._window - now for w in self._windows.values() if w.suppressed]
        return max(0.0, min(ends)) if ends else None


def _summary(subject: str, window: _Window) -> DecisionRecord:
    template = window.template
    assert template is not None
    return DecisionRecord(
        decision_id=f"{template.decision_id}-suppressed",
        path=SUPPRESSED_PATH,
        input={"subject": {"id": subject or None}},
        result={
            "suppressed": window.suppressed,
            "allowed": window.allowed,
            "denied": window.denied,
            "first": window.first,
            "last": window.last,
            "actions": window.actions,
        },
        timestamp=window.last,
        bundles={"gateway": BundleInfo(revision=template.revision)},
        labels=template.labels,
        subject_id=subject or None,
        action="audit.suppressed",
        cut=["/input"],
        cut_reason=SUBJECT_VOLUME,
    )
