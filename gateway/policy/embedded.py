"""The default engine: rego-cpp (regopy) in-process, compiled once into a bundle."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import msgspec
from regopy import Interpreter, RegoError
from regopy.rego_shared import (
    rego_bundle_query_entrypoint,
    rego_free_output,
    rego_output_ok,
    rego_output_string,
    rego_set_input_term,
)

from gateway.errors import BackendUnavailable
from gateway.policy.engine import ENTRYPOINTS, UNDEFINED
from gateway.policy.sources import PolicyLoadError, load_policy_sources

log = logging.getLogger(__name__)

_decode = msgspec.json.Decoder().decode


class EmbeddedRegoEngine:
    """Evaluations run synchronously on the event loop (about 0.2 ms each): there is no await
    between setting the input and querying, so the one interpreter is never shared."""

    name = "embedded"

    def __init__(self, policy_dir: str | Path, *, entrypoints: tuple[str, ...] = ENTRYPOINTS):
        sources = load_policy_sources(policy_dir)
        self._revision = sources.revision
        self._interp = Interpreter()
        try:
            self._interp.add_data_json(msgspec.json.encode(sources.data).decode())
            for path, text in sources.modules.items():
                self._interp.add_module(path, text)
            self._bundle = self._interp.build(None, list(entrypoints))
        except RegoError as exc:
            raise PolicyLoadError(f"policies in {policy_dir}: {exc}") from exc
        if not self._bundle.ok():
            raise PolicyLoadError(f"policies in {policy_dir} failed to compile")
        self._entrypoints = frozenset(entrypoints)
        log.info(
            "embedded policy engine: revision %s, %d modules", self._revision, len(sources.modules)
        )

    @property
    def revision(self) -> str:
        return self._revision

    def evaluate_sync(self, entrypoint: str, input_json: bytes) -> Any:
        if entrypoint not in self._entrypoints:
            raise BackendUnavailable(f"policy entrypoint {entrypoint!r} is not compiled")
        # The C API directly: regopy's Output parses the JSON a second time with `json`.
        interp = self._interp._impl
        try:
            rego_set_input_term(interp, input_json.decode())
            output = rego_bundle_query_entrypoint(interp, self._bundle._impl, entrypoint)
        except RegoError as exc:
            raise BackendUnavailable(f"policy engine error: {exc}") from exc
        try:
            ok = rego_output_ok(output)
            text = rego_output_string(output)
        finally:
            rego_free_output(output)
        if not ok:
            raise BackendUnavailable(f"policy engine error evaluating {entrypoint}: {text}")
        if text == "undefined":
            return UNDEFINED
        try:
            expressions = _decode(text).get("expressions") or []
        except (msgspec.DecodeError, AttributeError) as exc:
            raise BackendUnavailable(
                f"policy engine returned malformed JSON for {entrypoint}"
            ) from exc
        return expressions[0] if expressions else UNDEFINED

    async def evaluate(self, entrypoint: str, input_json: bytes) -> Any:
        return self.evaluate_sync(entrypoint, input_json)

    async def check(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
