"""The default engine: rego-cpp (regopy) in-process, compiled once into a bundle, and
compiled again whenever the policy directory changes (`reload`).

A new revision replaces the serving one only after it compiled and every entrypoint answered
a probe input in shape; otherwise it is rejected with an error naming file and line, and the
last good revision keeps serving. The swap is one reference assignment, so an evaluation
always runs on exactly one revision.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import msgspec
from regopy import Interpreter, RegoError
from regopy.interpreter import LogLevel
from regopy.rego_shared import (
    rego_bundle_query_entrypoint,
    rego_free_output,
    rego_output_ok,
    rego_output_string,
    rego_set_input_term,
)

from gateway.errors import BackendUnavailable
from gateway.observability.metrics import count_rejected_reload
from gateway.policy.conventions import convention_problems
from gateway.policy.engine import (
    ENTRYPOINTS,
    LOG_MASK,
    MARKETPLACE_LISTINGS,
    UNDEFINED,
    Evaluation,
    PolicyStatus,
    Rejection,
    now_iso,
)
from gateway.policy.input_refs import unknown_input_refs
from gateway.policy.inputs import input_schema
from gateway.policy.memo import memo_blockers
from gateway.policy.reach import bundles
from gateway.policy.results import check_answer, probe_inputs
from gateway.policy.sources import PolicyLoadError, PolicySources, load_policy_sources
from gateway.policy.watch import PolicyWatcher

log = logging.getLogger(__name__)

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode
# A marketplace page's fields and its listings, left as the bytes they came in.
_page_fields = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode
_page_items = msgspec.json.Decoder(list[msgspec.Raw]).decode
# rego-cpp's error AST: `(error <n>:<file>|<offset>|<length> (errormsg <n>:<message>) …`
_ERROR_AT = re.compile(r"\(error \d+:(?P<file>[^|\s]+)\|(?P<offset>\d+)\|\d+")
_ERROR_MSG = re.compile(r"\(errormsg \d+:(?P<msg>[^\n)]*)")


def quiet_interpreter() -> Interpreter:
    """An interpreter that reports errors to us only (rego-cpp prints them to stdout too)."""
    interp = Interpreter()
    interp.log_level = LogLevel.NONE
    return interp


def describe_rego_error(exc: RegoError, modules: dict[str, str], root: Path) -> str:
    """`file:line:col: message` lines from a rego-cpp error, for people (and CI logs)."""
    text = str(exc)
    lines = []
    for at, msg in zip(_ERROR_AT.finditer(text), _ERROR_MSG.finditer(text), strict=False):
        name = at["file"]
        source = modules.get(name, "")
        offset = int(at["offset"])
        line = source.count("\n", 0, offset) + 1
        col = offset - (source.rfind("\n", 0, offset) + 1) + 1
        lines.append(f"{root / name}:{line}:{col}: {msg['msg'].strip()}")
    return "\n".join(lines) if lines else f"{root}: {text.strip()[:500]}"


# Inputs at least this large are evaluated off the event loop (see EmbeddedRegoEngine); 0 =
# every evaluation: measured, it doubled creates per second (300 -> 588) and cost reads nothing.
DEFAULT_OFFLOAD_BYTES = 0


class _Bundle:
    """An interpreter and the bundle compiled in it for some entrypoints."""

    __slots__ = ("bundle", "interp", "modules")

    def __init__(self, data_json: str, modules: dict[str, str], entrypoints: list[str]) -> None:
        self.modules = tuple(modules)
        self.interp = quiet_interpreter()
        self.interp.add_data_json(data_json)
        for path, text in modules.items():
            self.interp.add_module(path, text)
        self.bundle = self.interp.build(None, entrypoints)


class CompiledPolicy:
    """One revision: each entrypoint's bundle, compiled from the modules it can reach
    (gateway/policy/reach.py: rego-cpp verifies a whole bundle on every query, so a bundle
    of every module made each decision pay for all of them; ADR 0062)."""

    __slots__ = ("_bundles", "_source", "memo_blockers", "revision")

    def __init__(
        self,
        sources: PolicySources,
        root: Path,
        entrypoints: tuple[str, ...],
        *,
        checked: bool = False,
    ) -> None:
        """`checked`: these sources already compiled and passed the probes (a twin)."""
        self.revision = sources.revision
        self._source = (sources, root, entrypoints)
        self.memo_blockers = memo_blockers(sources.modules)
        if not checked:
            named = {str(root / path): text for path, text in sources.modules.items()}
            problems = unknown_input_refs(named, input_schema()) + convention_problems(named)
            if problems:
                raise PolicyLoadError("\n".join(problems), revision=self.revision)
        # The log mask is optional (undefined = nothing masked), so never probed.
        groups, unreached = bundles((*entrypoints, LOG_MASK), sources.modules)
        data_json = msgspec.json.encode(sources.data).decode()
        self._bundles: dict[str, _Bundle] = {}
        try:
            for reached, served in groups.items():
                modules = {path: text for path, text in sources.modules.items() if path in reached}
                compiled = self._compile(root, data_json, modules, list(served))
                self._bundles.update(dict.fromkeys(served, compiled))
            if unreached and not checked:
                # No entrypoint reaches them, but an error in them is still an error (as
                # OPA, which compiles every module, would say): compiled once, with all.
                self._compile(root, data_json, dict(sources.modules), [*entrypoints, LOG_MASK])
        except RegoError as exc:
            raise PolicyLoadError(
                describe_rego_error(exc, sources.modules, root), revision=self.revision
            ) from exc
        if checked:
            return
        for entrypoint, probe in probe_inputs().items():
            if entrypoint not in entrypoints:
                continue
            try:
                result = self.query(entrypoint, probe)
            except BackendUnavailable as exc:
                raise PolicyLoadError(f"{root}: {exc.detail}", revision=self.revision) from exc
            if result is UNDEFINED:
                raise PolicyLoadError(
                    f"{root}: data.{entrypoint.replace('/', '.')} is not defined "
                    "(every entrypoint must be: see docs/policies.md)",
                    revision=self.revision,
                )
            problem = check_answer(entrypoint, result)
            if problem:
                raise PolicyLoadError(f"{root}: {problem}", revision=self.revision)

    def _compile(
        self, root: Path, data_json: str, modules: dict[str, str], entrypoints: list[str]
    ) -> _Bundle:
        made = _Bundle(data_json, modules, entrypoints)
        if not made.bundle.ok():
            raise PolicyLoadError(f"{root}: the policies failed to compile", revision=self.revision)
        return made

    @property
    def sources(self) -> PolicySources:
        return self._source[0]

    def modules_of(self, entrypoint: str) -> tuple[str, ...]:
        """The modules compiled into `entrypoint`'s bundle (what it can reach)."""
        return self._bundles[entrypoint].modules

    def twin(self) -> CompiledPolicy:
        """The same revision in an interpreter of its own (for another thread)."""
        sources, root, entrypoints = self._source
        return CompiledPolicy(sources, root, entrypoints, checked=True)

    def evaluate(self, entrypoint: str, input_json: bytes) -> Any:
        if entrypoint == MARKETPLACE_LISTINGS:
            return self._listings(input_json)
        return self.query(entrypoint, input_json)

    def _listings(self, input_json: bytes) -> Any:
        """`data.gateway.marketplace.listings`, the rule as written, asked one listing at a time.

        rego-cpp evaluates the rule's `with` in time proportional to the input's size, so a
        whole page costs O(n²) there (40 listings: 157 ms). The rule decides each listing on
        its own (`with input.listings as []`: no listing's decision sees the others), so the
        page's answer is the union of the answers for the same input holding one listing each
        (tests/policies/test_listings_pages.py holds this on both engines). Nothing here says
        what a decision is: an answer of any other shape is not split, the page is asked whole.
        """
        try:
            page = _page_fields(input_json)
            items = _page_items(page["listings"])
        except (msgspec.DecodeError, KeyError) as exc:
            raise BackendUnavailable("malformed marketplace listings input") from exc
        if len(items) < 2:
            return self.query(MARKETPLACE_LISTINGS, input_json)
        decisions: dict[str, Any] = {}
        for item in items:
            page["listings"] = msgspec.Raw(b"[" + bytes(item) + b"]")
            answer = self.query(MARKETPLACE_LISTINGS, _encode(page))
            if answer is UNDEFINED:
                return UNDEFINED
            per_listing = isinstance(answer, dict) and answer.keys() == {"decisions"}
            if not (per_listing and isinstance(answer["decisions"], dict)):
                return self.query(MARKETPLACE_LISTINGS, input_json)
            for listing_id, decision in answer["decisions"].items():
                if decisions.setdefault(listing_id, decision) != decision:
                    # What OPA answers for the page: one key, two values.
                    raise BackendUnavailable(
                        f"policy engine error evaluating {MARKETPLACE_LISTINGS}: listing "
                        f"{listing_id!r} got two different decisions on one page"
                    )
        return {"decisions": decisions}

    def query(self, entrypoint: str, input_json: bytes) -> Any:
        """`entrypoint` on exactly this input (`evaluate` may ask a page one listing at a time)."""
        # The C API directly: regopy's Output parses the JSON a second time with `json`.
        try:
            compiled = self._bundles[entrypoint]
        except KeyError:
            raise BackendUnavailable(f"policy engine error: no bundle for {entrypoint}") from None
        interp = compiled.interp._impl
        try:
            rego_set_input_term(interp, input_json.decode())
            output = rego_bundle_query_entrypoint(interp, compiled.bundle._impl, entrypoint)
        except RegoError as exc:
            raise BackendUnavailable(f"policy engine error: {str(exc)[:300]}") from exc
        try:
            ok = rego_output_ok(output)
            text = rego_output_string(output)
        finally:
            rego_free_output(output)
        if not ok:
            raise BackendUnavailable(f"policy engine error evaluating {entrypoint}: {text[:300]}")
        if text == "undefined":
            return UNDEFINED
        try:
            expressions = _decode(text).get("expressions") or []
        except (msgspec.DecodeError, AttributeError) as exc:
            raise BackendUnavailable(
                f"policy engine returned malformed JSON for {entrypoint}"
            ) from exc
        return expressions[0] if expressions else UNDEFINED


def compile_policy(
    policy_dir: str | Path, entrypoints: tuple[str, ...] = ENTRYPOINTS
) -> CompiledPolicy:
    """Load, compile and probe a policy directory; PolicyLoadError names what is wrong."""
    root = Path(policy_dir)
    return CompiledPolicy(load_policy_sources(root), root, entrypoints)


def _say_if_not_memoized(compiled: CompiledPolicy) -> None:
    if compiled.memo_blockers:
        log.warning(
            "revision %s: decisions are not memoized (each costs a full evaluation):\n%s",
            compiled.revision,
            "\n".join(compiled.memo_blockers),
        )


class _Revision:
    """One revision: compiled for the event loop, and for the evaluation thread the first
    time something is offloaded (a compile costs ~0.25 s of CPU; a process that never
    offloads under a revision, and every rejected or replaced one, never pays it)."""

    __slots__ = ("_offloaded", "inline")

    def __init__(self, compiled: CompiledPolicy) -> None:
        self.inline = compiled
        self._offloaded: CompiledPolicy | None = None

    def evaluate_offloaded(self, entrypoint: str, input_json: bytes) -> Any:
        """On the evaluation thread only (one thread: its interpreter is never shared)."""
        if self._offloaded is None:
            self._offloaded = self.inline.twin()
        return self._offloaded.evaluate(entrypoint, input_json)


def _compile_revision(root: Path, entrypoints: tuple[str, ...]) -> _Revision:
    return _Revision(compile_policy(root, entrypoints))


_SpareKey = tuple[str, str, tuple[str, ...]]  # the directory, the revision, the entrypoints


class _SpareRevisions:
    """Compiled revisions that closed engines handed back, for the next engine this process
    opens on the same directory with the same sources (the revision is a hash of every file
    it read): a revision costs two compiles of ~0.25 s of CPU each (the event loop's and the
    evaluation thread's interpreter), and their teardown ~0.1 s more. A serving process opens
    one engine and never gains; a process that opens many does (the test suite opens one per
    app, hundreds per worker). An interpreter is used by one engine at a time: taken out on
    open, handed back only once its engine is closed and its evaluation thread has ended.
    Bounded: the least recently handed back go first."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._spare: OrderedDict[tuple[_SpareKey, int], _Revision] = OrderedDict()
        self._lock = threading.Lock()  # engines open and close on their apps' own threads
        self._count = 0

    def take(self, key: _SpareKey) -> _Revision | None:
        with self._lock:
            for slot in reversed(self._spare):
                if slot[0] == key:
                    return self._spare.pop(slot)
        return None

    def give(self, key: _SpareKey, revision: _Revision) -> None:
        with self._lock:
            self._count += 1
            self._spare[(key, self._count)] = revision
            while len(self._spare) > self._limit:
                self._spare.popitem(last=False)


_SPARES = _SpareRevisions(limit=4)


def _open_revision(root: Path, entrypoints: tuple[str, ...]) -> _Revision:
    """The directory's revision, compiled now or handed back by an engine that closed."""
    sources = load_policy_sources(root)
    spare = _SPARES.take((str(root), sources.revision, entrypoints))
    return spare or _Revision(CompiledPolicy(sources, root, entrypoints))


class EmbeddedRegoEngine:
    """Small evaluations run synchronously on the event loop (no await between setting the
    input and querying, so its interpreter is never shared by two evaluations). Evaluations
    of inputs of `offload_bytes` or more, and every marketplace page, run on one thread of
    their own with an interpreter of its own: regopy's C calls release the GIL, so the loop
    serves other requests meanwhile, and a user with a large input cannot stall the others
    (before: a user with 300 memberships made other users' requests wait for seconds).
    Each interpreter is used by one thread only."""

    name = "embedded"

    def __init__(
        self,
        policy_dir: str | Path,
        *,
        entrypoints: tuple[str, ...] = ENTRYPOINTS,
        poll_seconds: float = 1.0,
        offload_bytes: int = DEFAULT_OFFLOAD_BYTES,
    ):
        self._root = Path(policy_dir)
        self._entrypoints = entrypoints
        self._offload_bytes = offload_bytes
        # A startup error if broken.
        self._compiled = _open_revision(self._root, entrypoints)
        self._closed = False
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="rego-eval")
        self.offloaded = 0
        self._loaded_at = now_iso()
        self._rejected: Rejection | None = None
        self._reload_lock = asyncio.Lock()
        self.watcher = PolicyWatcher(self._root, self.reload, interval_seconds=poll_seconds)
        log.info("embedded policy engine: revision %s from %s", self.revision, self._root)
        _say_if_not_memoized(self._active)

    @property
    def _active(self) -> CompiledPolicy:
        return self._compiled.inline

    def _evaluating(self) -> CompiledPolicy:
        """The serving revision, to evaluate on; never once closed (fail closed: its
        interpreter may be another engine's now)."""
        if self._closed:
            raise BackendUnavailable("the embedded policy engine is closed")
        return self._compiled.inline

    @property
    def revision(self) -> str:
        return self._active.revision

    @property
    def memoizable(self) -> bool:
        return not self._active.memo_blockers

    def status(self) -> PolicyStatus:
        return PolicyStatus(
            revision=self.revision, loaded_at=self._loaded_at, last_rejected=self._rejected
        )

    def start(self) -> None:
        self.watcher.start()

    async def reload(self) -> bool:
        """Compile the directory again; swap it in if it is good and new. True if swapped."""
        async with self._reload_lock:
            try:
                # Off the event loop: compiling takes tens of milliseconds.
                compiled = await asyncio.to_thread(_compile_revision, self._root, self._entrypoints)
            except PolicyLoadError as exc:
                self._rejected = Rejection(error=str(exc), at=now_iso(), revision=exc.revision)
                count_rejected_reload("embedded")
                log.error(
                    "policy change rejected, revision %s keeps serving:\n%s", self.revision, exc
                )
                return False
            self._rejected = None  # the directory is good again (a fix, or the change undone)
            if compiled.inline.revision == self._active.revision:
                return False
            previous, self._compiled = self._active.revision, compiled
            self._loaded_at = now_iso()
            log.info("policy revision %s replaces %s", compiled.inline.revision, previous)
            _say_if_not_memoized(compiled.inline)
            return True

    def evaluate_sync(self, entrypoint: str, input_json: bytes) -> Any:
        if entrypoint not in self._entrypoints and entrypoint != LOG_MASK:
            raise BackendUnavailable(f"policy entrypoint {entrypoint!r} is not compiled")
        return self._evaluating().evaluate(entrypoint, input_json)

    async def evaluate(self, entrypoint: str, input_json: bytes) -> Evaluation:
        if len(input_json) < self._offload_bytes and entrypoint != MARKETPLACE_LISTINGS:
            active = self._evaluating()  # one revision answers and is named (no await in between)
            if entrypoint not in self._entrypoints and entrypoint != LOG_MASK:
                raise BackendUnavailable(f"policy entrypoint {entrypoint!r} is not compiled")
            return Evaluation(active.evaluate(entrypoint, input_json), revision=active.revision)
        if entrypoint not in self._entrypoints and entrypoint != LOG_MASK:
            raise BackendUnavailable(f"policy entrypoint {entrypoint!r} is not compiled")
        self._evaluating()  # not once closed
        self.offloaded += 1
        serving = self._compiled  # the revision serving now, whatever comes next
        loop = asyncio.get_running_loop()
        return Evaluation(
            await loop.run_in_executor(
                self._thread, serving.evaluate_offloaded, entrypoint, input_json
            ),
            revision=serving.inline.revision,
        )

    async def check(self) -> None:
        return None

    async def aclose(self) -> None:
        await self.watcher.stop()
        if self._closed:
            return
        self._closed = True
        # Until an offloaded call still running ends (milliseconds): then no thread uses the
        # serving revision's interpreters, and the next engine on the same sources takes them.
        await asyncio.to_thread(self._thread.shutdown, wait=True, cancel_futures=True)
        serving = self._compiled
        _SPARES.give((str(self._root), serving.inline.revision, self._entrypoints), serving)
