"""`gateway policy push`: upload a policy directory to an OPA server through its Policy and
Data APIs, for setups where OPA and the gateway share no volume.

Checked first (`gateway policy check`): a directory the embedded engine would refuse is not
pushed. OPA compiles its whole module set on every upload, and the files of one package use
each other's rules, so a package's files are uploaded as one module (their imports merged),
packages one after another until every one compiles; then each `data.json` is put at its
path. Modules pushed earlier and gone from the directory are deleted first. It is not atomic
across packages: where a rollout must switch at once, serve OPA a bundle (`opa build`) or
the directory itself (`opa run --watch`, as compose.yaml does).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp
from opa_client.errors import RegoParseError

from gateway.policy.embedded import compile_policy
from gateway.policy.opa import opa_client
from gateway.policy.sources import PACKAGE, load_policy_sources

ID_PREFIX = "gateway-policy/"


class PushError(Exception):
    """The push stopped; the message says where."""


_IMPORT = re.compile(r"^import\s+.*$", re.MULTILINE)


def by_package(modules: dict[str, str]) -> dict[str, str]:
    """One module per package (`gateway/authz`): its files' text, one package line, the
    union of their imports; the package's annotation (before its `package` line) first."""
    merged: dict[str, tuple[list[str], list[str], list[str]]] = {}
    for _path, text in sorted(modules.items()):
        package = PACKAGE.search(text)
        if package is None:
            continue
        name = package[1].replace(".", "/")
        heads, imports, bodies = merged.setdefault(name, ([], [], []))
        head, rest = text[: package.start()], text[package.end() :]
        if "# METADATA" in head:
            heads.insert(0, head.rstrip())
        imports += [i for i in _IMPORT.findall(rest) if i not in imports]
        bodies.append(_IMPORT.sub("", rest).strip())
    return {
        name: "\n".join([*heads, f"package {name.replace('/', '.')}", "", *imports, "", *bodies])
        + "\n"
        for name, (heads, imports, bodies) in merged.items()
    }


async def push(policy_dir: str | Path, opa_url: str) -> list[str]:
    """Upload `policy_dir` to the OPA at `opa_url`; returns the module ids now served."""
    compile_policy(policy_dir)  # PolicyLoadError if the gateway itself would refuse it
    sources = load_policy_sources(policy_dir)
    client = opa_client(opa_url, 10.0)
    async with client:
        served = [ID_PREFIX + name for name in by_package(sources.modules)]
        # Ours from an earlier push and gone now go first: they would clash with the new.
        for module_id in await client.get_policies_list():
            if module_id.startswith(ID_PREFIX) and module_id not in served:
                await client.delete_policy(module_id)
        pending = {ID_PREFIX + name: text for name, text in by_package(sources.modules).items()}
        errors: dict[str, str] = {}
        while pending:
            errors = {}
            for module_id, text in list(pending.items()):
                try:
                    await client.update_policy_from_string(text, module_id, rego_compat=False)
                except RegoParseError as exc:
                    errors[module_id] = f"{exc.expression}: {exc.message}"
                else:
                    del pending[module_id]
            if len(errors) == len(pending) and errors:
                break  # no progress: these do not compile on OPA
        if pending:
            detail = "; ".join(f"{m}: {e}" for m, e in sorted(errors.items()))
            raise PushError(f"OPA refused {len(pending)} module(s): {detail}")
        for key, value in sources.data.items():
            await client.update_or_create_data(value, key)
    return served


def push_sync(policy_dir: str | Path, opa_url: str) -> list[str]:
    try:
        return asyncio.run(push(policy_dir, opa_url))
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise PushError(f"OPA at {opa_url} did not answer: {type(exc).__name__}") from exc
