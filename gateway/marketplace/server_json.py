"""`server.json`, the MCP registry's description of a server (modelcontextprotocol/registry,
`docs/reference/server-json/`), made from a catalog listing or a server of a merged view.

A stdio server launched by a package runner (`npx`, `uvx`, `docker run`) becomes a `packages`
entry that a client runs exactly as listed: the runner's flags are `runtimeArguments`, the
package is the first operand, and what follows are `packageArguments`. Any other command has
no package form (a client reaches it through the gateway's own `/mcp`). HTTP servers become
`remotes`; a header that names a secret (`${NAME}`) becomes an input the client asks for.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal

import msgspec

# Reverse-DNS namespace of every name and `_meta` key the gateway publishes.
NAMESPACE = "io.github.mcp-policy-gateway"
GATEWAY_META = f"{NAMESPACE}/gateway"
OFFICIAL_META = "io.modelcontextprotocol.registry/official"
# server.json caps (the published schema): longer catalog text is cut at a word.
MAX_DESCRIPTION = 100
MAX_TITLE = 100
SERVER_NAME = r"^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$"

_RUNNERS = {"npx": "npm", "uvx": "pypi", "docker": "oci"}
# Runner flags whose value is the next argument (`-e NAME`, `--from pkg`).
_VALUE_FLAGS = frozenset(
    {"--from", "--with", "-p", "--package", "-e", "--env", "-v", "--volume", "--name",
     "--network", "--mount", "-w", "--workdir", "-u", "--user", "--entrypoint"}
)  # fmt: skip
_SECRET_REF = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")


class _Camel(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True, rename="camel"):
    pass


class Input(_Camel, kw_only=True, frozen=True):
    description: str | None = None
    is_required: bool = False
    is_secret: bool = False


class KeyValueInput(_Camel, kw_only=True, frozen=True):
    """An environment variable or header: a secret the client asks the user for, or a value."""

    name: str
    value: str | None = None
    description: str | None = None
    is_required: bool = False
    is_secret: bool = False
    variables: dict[str, Input] | None = None


class Argument(_Camel, kw_only=True, frozen=True):
    type: Literal["positional"]  # no default: omit_defaults would drop it, and it is required
    value: str


class Transport(_Camel, kw_only=True, frozen=True):
    type: Literal["stdio", "streamable-http", "sse"]
    url: str | None = None
    headers: list[KeyValueInput] | None = None


class Package(_Camel, kw_only=True, frozen=True):
    registry_type: Literal["npm", "pypi", "oci"]
    identifier: str
    runtime_hint: str
    transport: Transport
    runtime_arguments: list[Argument] | None = None
    package_arguments: list[Argument] | None = None
    environment_variables: list[KeyValueInput] | None = None


class Remote(_Camel, kw_only=True, frozen=True):
    type: Literal["streamable-http", "sse"]
    url: str
    headers: list[KeyValueInput] | None = None


class ServerDetail(_Camel, kw_only=True, frozen=True):
    """The server.json itself."""

    name: str
    description: str
    version: str
    title: str | None = None
    website_url: str | None = None
    packages: list[Package] | None = None
    remotes: list[Remote] | None = None


def short(text: str, limit: int) -> str:
    """`text` within `limit` characters, cut at a word with an ellipsis; never empty."""
    text = " ".join(text.split()) or "-"
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:.") or text[: limit - 1]
    return f"{cut}…"


def version_of(moment: datetime) -> str:
    """One version per entry, from when it last changed: `0.YYYYMMDD.HHMMSS` (UTC), a
    semantic version that sorts newer higher (the gateway keeps no version history)."""
    at = moment.astimezone(UTC)
    return f"0.{at:%Y%m%d}.{int(f'{at:%H%M%S}')}"


def _arguments(values: list[str]) -> list[Argument] | None:
    return [Argument(type="positional", value=value) for value in values] or None


def _env_inputs(env: list[str]) -> list[KeyValueInput] | None:
    return [KeyValueInput(name=name, is_required=True, is_secret=True) for name in env] or None


def package(command: str | None, args: list[str], env: list[str]) -> Package | None:
    """The package form of a stdio launch, or None where the command is no package runner."""
    registry = _RUNNERS.get(command or "")
    if registry is None or command is None:
        return None
    leading = 1 if registry == "oci" and args[:1] == ["run"] else 0
    if registry == "oci" and not leading:
        return None
    at = leading
    while at < len(args) and args[at].startswith("-"):
        at += 2 if args[at] in _VALUE_FLAGS else 1
    if at >= len(args):
        return None
    return Package(
        registry_type=registry,  # type: ignore[arg-type]
        identifier=args[at],
        runtime_hint=command,
        transport=Transport(type="stdio"),
        runtime_arguments=_arguments(args[:at]),
        package_arguments=_arguments(args[at + 1 :]),
        environment_variables=_env_inputs(env),
    )


def _header(name: str, value: str) -> KeyValueInput:
    secrets = _SECRET_REF.findall(value)
    if not secrets:
        return KeyValueInput(name=name, value=value)
    return KeyValueInput(
        name=name,
        value=_SECRET_REF.sub(r"{\1}", value),
        is_required=True,
        is_secret=True,
        variables={secret: Input(is_required=True, is_secret=True) for secret in secrets},
    )


def remote(transport: str, url: str | None, headers: dict[str, str]) -> Remote | None:
    if url is None or transport not in ("streamable_http", "sse"):
        return None
    kind: Literal["streamable-http", "sse"] = "sse" if transport == "sse" else "streamable-http"
    listed = [_header(name, value) for name, value in sorted(headers.items())]
    return Remote(type=kind, url=url, headers=listed or None)


def server_detail(
    *,
    name: str,
    title: str,
    description: str,
    version: str,
    transport: str,
    command: str | None,
    args: list[str],
    url: str | None,
    headers: dict[str, str],
    env: list[str],
    website_url: str | None = None,
) -> ServerDetail:
    pkg = package(command, args, env) if transport == "stdio" else None
    rem = remote(transport, url, headers)
    return ServerDetail(
        name=name,
        title=short(title, MAX_TITLE),
        description=short(description or title, MAX_DESCRIPTION),
        version=version,
        website_url=website_url,
        packages=[pkg] if pkg is not None else None,
        remotes=[rem] if rem is not None else None,
    )
