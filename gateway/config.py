"""Settings, read once from the environment (a TOML file may add to it; env wins)."""

from __future__ import annotations

import logging
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec

from gateway.domain.ids import REQUEST_ID, matches
from gateway.domain.targets import UpstreamReach, parse_private_networks
from gateway.domain.validation import field_error

log = logging.getLogger(__name__)

REPO_POLICY_DIR = Path(__file__).resolve().parent.parent / "policies"
BUNDLED_CATALOG = Path(__file__).resolve().parent / "marketplace" / "catalog.json"


class ConfigError(Exception):
    """A setting is missing or malformed; the message names it."""


# RFC 7518 §3.2: an HS256 key at least as long as the hash (256 bits).
MIN_HMAC_SECRET_BYTES = 32


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    host: str = "127.0.0.1"
    port: int = 8080
    auth_enabled: bool = True
    jwt_secret: str | None = None
    jwt_jwks_url: str | None = None
    jwt_algorithms: tuple[str, ...] | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    # Where platform roles are in a token (a dotted path: `realm_access.roles` for Keycloak),
    # and which other claims reach the policy as `input.subject.claims` (`groups,department`).
    jwt_roles_claim: str = "roles"
    jwt_claims: tuple[str, ...] = ()
    # The URL clients use; the MCP resource (RFC 8707's canonical URI) is `<it>/mcp`. Default
    # http://<host>:<port>.
    public_url: str | None = None
    # Authorization servers (issuer URLs) named in the resource metadata; without
    # GATEWAY_JWT_JWKS_URL their keys come from their metadata's `jwks_uri`, and a token's
    # `iss` must be one of them (unless GATEWAY_JWT_ISSUER says otherwise).
    oauth_authorization_servers: tuple[str, ...] = ()
    # Scopes a token must carry on /mcp (none: scopes are not used); listed in the metadata.
    mcp_scopes: tuple[str, ...] = ()
    # Browser origins allowed on /mcp (a request with any other `Origin` is a 403).
    allowed_origins: tuple[str, ...] = ()
    # Longest validity accepted (exp - iat, or exp - now without iat): a stolen token expires.
    jwt_max_lifetime_seconds: int = 86400
    jwks_cache_seconds: float = 300.0
    jwks_min_refetch_seconds: float = 30.0
    redis_url: str | None = None
    # GATEWAY_REDIS_URL names one node of a Redis Cluster; the client follows its slot map.
    redis_cluster: bool = False
    # Connections per process (per node on a cluster); a request finding all busy waits up
    # to the timeout for one, then is a 503: a burst queues instead of failing at once.
    redis_max_connections: int = 64
    redis_pool_timeout_seconds: float = 2.0
    vault_addr: str | None = None
    vault_token: str | None = None
    vault_mount: str = "secret"
    vault_role_id: str | None = None
    vault_secret_id: str | None = None
    # Vault calls queued or running per process (8 threads); beyond it a 503 at once: a
    # hung Vault must not pile requests up behind its 5 s timeouts.
    vault_max_pending: int = 64
    opa_url: str | None = None
    opa_timeout_seconds: float = 0.5
    policy_dir: str = str(REPO_POLICY_DIR)
    # Seconds between looks at the policy directory for changes; 0 = only on SIGHUP.
    policy_poll_seconds: float = 1.0
    # Embedded engine: inputs of this many bytes or more are evaluated on a thread of their
    # own, off the event loop (marketplace pages always are); 0 = every evaluation.
    policy_offload_bytes: int = 0
    marketplace_catalog: str = str(BUNDLED_CATALOG)
    log_level: str = "INFO"
    # `text` for people, `json` (one object per line, with request and decision ids) for a
    # log pipeline; docs/operations.md.
    log_format: str = "text"
    # One line per request on the `gateway.access` logger (INFO), in the chosen format.
    access_log: bool = True
    # /metrics: unset, only loopback clients may read it; set, a scraper sends it as a
    # bearer token (from anywhere). No tenant ids are in the metrics, but traffic is.
    metrics_token: str | None = None
    # Policy bundles for OPA sidecars (docs/policies.md): set, the gateway serves the policy
    # directory as an OPA bundle at GET /v1/policy/bundle to whoever presents this token.
    bundle_token: str | None = None
    # Signs those bundles: an HMAC secret (HS256, 32+ bytes) or a PEM private key (RS256, or
    # ES256 for an EC key); OPA verifies with the same secret or the public key, by key id.
    bundle_signing_key: str | None = None
    bundle_signing_key_id: str = "gateway"
    # On SIGTERM: stop accepting, let requests in flight finish for up to this, then write
    # what the decision log's writer holds and exit.
    shutdown_grace_seconds: float = 20.0
    # The decision log (docs/audit.md). Required: a request whose decisions cannot be
    # logged fails (503) instead of going unlogged.
    audit_required: bool = False
    # Bytes of record JSON kept; default 32 MiB in memory, 1 GiB in Redis.
    audit_max_bytes: int | None = None
    audit_max_age_seconds: float = 30 * 86400
    # Records waiting for the writer; beyond it (log failing) they are dropped and counted.
    audit_queue_size: int = 10_000
    # What one subject cannot exceed (docs/audit.md, "Volume"): an input's JSON over this is
    # cut (the record says where); over its bytes a minute a subject's records lose their
    # input, over its records a minute they are counted in one summary record. 0 = no limit.
    audit_max_input_bytes: int = 256 * 1024
    audit_subject_bytes_per_minute: int = 1024 * 1024
    audit_subject_records_per_minute: int = 600
    # The HMAC key of retention checkpoints (docs/audit.md, "Retention"); unset: derived
    # from GATEWAY_JWT_SECRET; neither: checkpoints are unsigned and `verify` says so.
    audit_checkpoint_key: str | None = None
    # /console's replay page offers the subdirectories of this directory as candidate policy
    # directories (never a path typed in the browser); unset: no replay in the console.
    console_candidates_dir: str | None = None
    # The `labels.id` of this replica's records; default <hostname>-<pid>.
    instance_id: str | None = None
    # Requests in flight per process; beyond it a 503 with Retry-After (health exempt).
    max_concurrent_requests: int = 256
    # Request bodies above this are a 413 before any byte is decoded.
    max_body_bytes: int = 1024 * 1024
    # A connection must deliver a request's headers, and then its body, within these.
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 30.0
    # Requests per subject per window (all replicas, counted in Redis); beyond: 429. 0 = off.
    rate_limit_requests: int = 1200
    rate_limit_window_seconds: int = 10
    # How long a create's response is replayed to a retry with the same Idempotency-Key.
    idempotency_ttl_seconds: int = 86400
    # HTTP transports may name, and the MCP proxy connect to, only globally reachable
    # addresses (it connects from inside the network: SSRF) and these non-global ranges
    # (comma-separated CIDRs, e.g. `10.20.0.0/16,fd00:1::/64`; gateway/domain/targets.py).
    private_upstream_cidrs: tuple[str, ...] = ()
    # Every address, private, loopback and link-local (cloud metadata) included: the blunt
    # instrument, for local development; a WARNING at startup.
    allow_private_upstreams: bool = False
    # The MCP proxy (/mcp, stateless: docs/adr/0051-stateless-mcp.md). Each upstream connect,
    # initialize and request must finish within this.
    mcp_upstream_timeout_seconds: float = 30.0
    # An upstream client (one per user, server and record version) unused this long is closed.
    mcp_upstream_idle_seconds: float = 300.0
    # Upstream clients kept open per user, and per gateway process (the least recently used
    # one is closed to open another).
    mcp_max_upstreams_per_user: int = 32
    mcp_max_upstreams: int = 2048
    # An upstream answer larger than this is refused (its server's error, not a gateway crash).
    mcp_max_response_bytes: int = 4 * 1024 * 1024
    # /mcp requests one user may have in flight on one replica; beyond it a JSON-RPC error
    # (so one user's slow calls cannot take every admission slot).
    mcp_max_inflight_per_user: int = 16
    # JSON nesting a /mcp request body may have (deeper is a -32700 parse error, 400).
    mcp_max_json_depth: int = 64
    # Stdio servers of a caller's view run on the gateway, each in a bubblewrap sandbox
    # (docs/stdio-hosting.md): `auto` where one can be made (probed at startup), `true` refuses
    # to start without one, `false` hosts none. Nothing ever runs unsandboxed.
    stdio_hosting: str = "auto"
    # A hosted server unused this long is stopped (it starts again on the next request).
    stdio_idle_seconds: float = 300.0
    # Hosted servers running per user, and per gateway process (the least recently used one
    # is stopped to start another).
    stdio_max_per_user: int = 8
    stdio_max_sandboxes: int = 64
    # Per sandboxed process: address space (bytes), CPU seconds; per sandbox: processes and
    # threads, open files.
    stdio_memory_bytes: int = 4 * 1024 * 1024 * 1024
    stdio_cpu_seconds: int = 3600
    stdio_max_processes: int = 128
    stdio_max_open_files: int = 1024
    # Where each (user, server) gets its private writable workspace; must be reachable by
    # other uids (not under a 0700 home).
    stdio_workspace_dir: str = "/var/lib/mcp-policy-gateway/stdio"
    # Host paths every sandbox sees read-only at the same path: pre-populated package caches
    # (node_modules, a pip --target folder), comma-separated absolute paths.
    stdio_readonly_paths: tuple[str, ...] = ()
    # Auth disabled on a non-loopback address needs this too (it serves everyone's servers).
    allow_insecure_bind: bool = False

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def mcp_resource(self) -> str:
        """The MCP endpoint's canonical URI (RFC 8707): what a token's `aud` must name."""
        return f"{self.base_url}/mcp"

    def __repr__(self) -> str:
        # Never print the JWT secret or a Vault token.
        shown = {
            f: ("***" if f in _SECRET_FIELDS and getattr(self, f) else getattr(self, f))
            for f in self.__struct_fields__
        }
        return f"Settings({shown})"

    def validate(self) -> None:
        if self.auth_enabled and not (
            self.jwt_secret or self.jwt_jwks_url or self.oauth_authorization_servers
        ):
            raise ConfigError(
                "GATEWAY_AUTH_ENABLED is true but none of GATEWAY_JWT_SECRET, "
                "GATEWAY_JWT_JWKS_URL and GATEWAY_OAUTH_AUTHORIZATION_SERVERS is set: set one "
                "of them, or set GATEWAY_AUTH_ENABLED=false for the unscoped local-dev mode"
            )
        if self.jwt_secret and len(self.jwt_secret.encode()) < MIN_HMAC_SECRET_BYTES:
            raise ConfigError(
                f"GATEWAY_JWT_SECRET: at least {MIN_HMAC_SECRET_BYTES} bytes for HS256 "
                f"(RFC 7518 §3.2), not {len(self.jwt_secret.encode())}; "
                "e.g. `openssl rand -hex 32`"
            )
        if self.jwt_algorithms is not None and any(
            a.lower() == "none" for a in self.jwt_algorithms
        ):
            raise ConfigError("GATEWAY_JWT_ALGORITHMS: 'none' is never accepted")
        if not self.opa_url and not Path(self.policy_dir).is_dir():
            raise ConfigError(f"GATEWAY_POLICY_DIR: {self.policy_dir!r} is not a directory")
        if self.opa_url and not _is_http_url(self.opa_url):
            raise ConfigError(
                f"GATEWAY_OPA_URL: {self.opa_url!r} is not an http(s)://host:port URL"
            )
        if not 0 < self.opa_timeout_seconds <= 30:
            raise ConfigError(
                "GATEWAY_OPA_TIMEOUT_SECONDS: above 0 and at most 30, "
                f"not {self.opa_timeout_seconds}"
            )
        if not 0 <= self.policy_poll_seconds <= 5:
            raise ConfigError(
                "GATEWAY_POLICY_POLL_SECONDS: between 0 (SIGHUP only) and 5 (changes take "
                f"effect within 5 seconds), not {self.policy_poll_seconds}"
            )
        if self.audit_max_bytes is not None and self.audit_max_bytes < 65536:
            raise ConfigError(
                f"GATEWAY_AUDIT_MAX_BYTES: at least 65536, not {self.audit_max_bytes}"
            )
        if not 60 <= self.audit_max_age_seconds <= 10 * 366 * 86400:
            raise ConfigError(
                "GATEWAY_AUDIT_MAX_AGE_SECONDS: between 60 and ten years, "
                f"not {self.audit_max_age_seconds}"
            )
        if self.audit_max_input_bytes and self.audit_max_input_bytes < 1024:
            raise ConfigError(
                f"GATEWAY_AUDIT_MAX_INPUT_BYTES: at least 1024 (or 0: no cap), "
                f"not {self.audit_max_input_bytes}"
            )
        for name in ("audit_subject_bytes_per_minute", "audit_subject_records_per_minute"):
            if getattr(self, name) < 0:
                raise ConfigError(f"GATEWAY_{name.upper()}: 0 (no limit) or more, not negative")
        if self.audit_checkpoint_key is not None and len(self.audit_checkpoint_key) < 32:
            raise ConfigError("GATEWAY_AUDIT_CHECKPOINT_KEY: at least 32 characters")
        if not 1 <= self.audit_queue_size <= 1_000_000:
            raise ConfigError(
                f"GATEWAY_AUDIT_QUEUE_SIZE: between 1 and 1000000, not {self.audit_queue_size}"
            )
        if self.instance_id is not None and not matches(REQUEST_ID, self.instance_id):
            raise ConfigError(
                f"GATEWAY_INSTANCE_ID: {self.instance_id!r} is not 1-128 of A-Z a-z 0-9 . _ : -"
            )
        if self.redis_cluster and not self.redis_url:
            raise ConfigError("GATEWAY_REDIS_CLUSTER is true but GATEWAY_REDIS_URL is not set")
        if not 1 <= self.redis_max_connections <= 10_000:
            raise ConfigError(
                "GATEWAY_REDIS_MAX_CONNECTIONS: between 1 and 10000, "
                f"not {self.redis_max_connections}"
            )
        if not 0 < self.redis_pool_timeout_seconds <= 30:
            raise ConfigError(
                "GATEWAY_REDIS_POOL_TIMEOUT_SECONDS: above 0 and at most 30, "
                f"not {self.redis_pool_timeout_seconds}"
            )
        if not 300 <= self.jwt_max_lifetime_seconds <= 30 * 86400:
            raise ConfigError(
                "GATEWAY_JWT_MAX_LIFETIME_SECONDS: between 300 and 2592000 (30 days), "
                f"not {self.jwt_max_lifetime_seconds}"
            )
        if not 1024 <= self.max_body_bytes <= 64 * 1024 * 1024:
            raise ConfigError(
                f"GATEWAY_MAX_BODY_BYTES: between 1024 and 67108864, not {self.max_body_bytes}"
            )
        for name in ("header_timeout_seconds", "body_timeout_seconds"):
            if not 0 < getattr(self, name) <= 300:
                raise ConfigError(
                    f"GATEWAY_{name.upper()}: above 0 and at most 300, not {getattr(self, name)}"
                )
        if not 0 <= self.rate_limit_requests <= 10_000_000:
            raise ConfigError(
                "GATEWAY_RATE_LIMIT_REQUESTS: between 0 (off) and 10000000, "
                f"not {self.rate_limit_requests}"
            )
        if not 1 <= self.rate_limit_window_seconds <= 3600:
            raise ConfigError(
                "GATEWAY_RATE_LIMIT_WINDOW_SECONDS: between 1 and 3600, "
                f"not {self.rate_limit_window_seconds}"
            )
        if not 60 <= self.idempotency_ttl_seconds <= 30 * 86400:
            raise ConfigError(
                "GATEWAY_IDEMPOTENCY_TTL_SECONDS: between 60 and 2592000 (30 days), "
                f"not {self.idempotency_ttl_seconds}"
            )
        if self.policy_offload_bytes < 0:
            raise ConfigError(
                f"GATEWAY_POLICY_OFFLOAD_BYTES: 0 or more, not {self.policy_offload_bytes}"
            )
        if not 1 <= self.max_concurrent_requests <= 100_000:
            raise ConfigError(
                "GATEWAY_MAX_CONCURRENT_REQUESTS: between 1 and 100000, "
                f"not {self.max_concurrent_requests}"
            )
        if self.log_format not in ("text", "json"):
            raise ConfigError(f"GATEWAY_LOG_FORMAT: text or json, not {self.log_format!r}")
        if self.metrics_token is not None and len(self.metrics_token) < 16:
            raise ConfigError("GATEWAY_METRICS_TOKEN: at least 16 characters")
        if self.bundle_token is not None and len(self.bundle_token) < 16:
            raise ConfigError("GATEWAY_BUNDLE_TOKEN: at least 16 characters")
        if self.bundle_signing_key is not None:
            if self.bundle_token is None:
                raise ConfigError(
                    "GATEWAY_BUNDLE_SIGNING_KEY is set but no bundle is served: set "
                    "GATEWAY_BUNDLE_TOKEN too (the token OPA presents to fetch the bundle)"
                )
            if (
                "PRIVATE KEY-----" not in self.bundle_signing_key
                and len(self.bundle_signing_key.encode()) < MIN_HMAC_SECRET_BYTES
            ):
                raise ConfigError(
                    f"GATEWAY_BUNDLE_SIGNING_KEY: an HMAC secret of at least "
                    f"{MIN_HMAC_SECRET_BYTES} bytes, or a PEM private key"
                )
        if not re.fullmatch(r"[A-Za-z0-9._:-]{1,64}", self.bundle_signing_key_id):
            raise ConfigError(
                f"GATEWAY_BUNDLE_SIGNING_KEY_ID: {self.bundle_signing_key_id!r} is not a key id "
                "(1-64 of letters, digits and ._:-)"
            )
        if not 0 < self.shutdown_grace_seconds <= 600:
            raise ConfigError(
                "GATEWAY_SHUTDOWN_GRACE_SECONDS: above 0 and at most 600, "
                f"not {self.shutdown_grace_seconds}"
            )
        for name, low, high in (
            ("mcp_upstream_timeout_seconds", 0.1, 600),
            ("mcp_upstream_idle_seconds", 1, 86400),
            ("mcp_max_upstreams_per_user", 1, 1000),
            ("mcp_max_upstreams", 1, 100_000),
            ("mcp_max_response_bytes", 1024, 256 * 1024 * 1024),
            ("mcp_max_inflight_per_user", 1, 10_000),
            ("mcp_max_json_depth", 8, 512),
            ("stdio_idle_seconds", 1, 86400),
            ("stdio_max_per_user", 1, 1000),
            ("stdio_max_sandboxes", 1, 10_000),
            ("stdio_memory_bytes", 64 * 1024 * 1024, 1024**4),
            ("stdio_cpu_seconds", 1, 30 * 86400),
            ("stdio_max_processes", 4, 100_000),
            ("stdio_max_open_files", 16, 1_048_576),
        ):
            if not low <= getattr(self, name) <= high:
                raise ConfigError(
                    f"GATEWAY_{name.upper()}: between {low} and {high}, not {getattr(self, name)}"
                )
        if self.stdio_hosting not in ("auto", "true", "false"):
            raise ConfigError(
                f"GATEWAY_STDIO_HOSTING: auto, true or false, not {self.stdio_hosting!r}"
            )
        if not os.path.isabs(self.stdio_workspace_dir):
            raise ConfigError(
                f"GATEWAY_STDIO_WORKSPACE_DIR: {self.stdio_workspace_dir!r} is not an absolute path"
            )
        for path in self.stdio_readonly_paths:
            if not os.path.isabs(path) or path != os.path.normpath(path) or path == "/":
                raise ConfigError(
                    f"GATEWAY_STDIO_READONLY_PATHS: {path!r} is not a normalized absolute path "
                    "below /"
                )
        if self.public_url is not None and not _is_http_url(self.public_url, any_path=True):
            raise ConfigError(
                f"GATEWAY_PUBLIC_URL: {self.public_url!r} is not an absolute http(s) URL"
            )
        for issuer in self.oauth_authorization_servers:
            if not _is_http_url(issuer, any_path=True):
                raise ConfigError(
                    f"GATEWAY_OAUTH_AUTHORIZATION_SERVERS: {issuer!r} is not an http(s) URL"
                )
        for origin in self.allowed_origins:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
                raise ConfigError(
                    f"GATEWAY_ALLOWED_ORIGINS: {origin!r} is not an origin (scheme://host[:port])"
                )
        if not _CLAIM_PATH.fullmatch(self.jwt_roles_claim):
            raise ConfigError(
                f"GATEWAY_JWT_ROLES_CLAIM: {self.jwt_roles_claim!r} is not a dotted claim path"
            )
        for claim in self.jwt_claims:
            if not _CLAIM_NAME.fullmatch(claim) or claim in _OWN_CLAIMS:
                raise ConfigError(
                    f"GATEWAY_JWT_CLAIMS: {claim!r} is not a claim name the policy may get "
                    f"(letters, digits, _ - : .; not one of {sorted(_OWN_CLAIMS)})"
                )
        try:
            parse_private_networks(self.private_upstream_cidrs)
        except ValueError as exc:
            raise ConfigError(f"GATEWAY_PRIVATE_UPSTREAM_CIDRS: {exc}") from None
        if self.allow_private_upstreams and self.private_upstream_cidrs:
            raise ConfigError(
                "GATEWAY_ALLOW_PRIVATE_UPSTREAMS=true allows every address, so "
                "GATEWAY_PRIVATE_UPSTREAM_CIDRS would mean nothing: set one of them"
            )
        if not 0 < self.port < 65536:
            raise ConfigError(f"GATEWAY_PORT: {self.port} is not a TCP port")

    def upstream_reach(self) -> UpstreamReach:
        """What HTTP transports may reach beyond global addresses: the one value both the
        save-time check and the MCP proxy's connection guard are given."""
        return UpstreamReach(
            everything=self.allow_private_upstreams,
            networks=parse_private_networks(self.private_upstream_cidrs),
        )


def _is_http_url(url: str, *, any_path: bool = False) -> bool:
    parts = urlsplit(url)
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and (any_path or parts.path in ("", "/"))
        and not parts.query
        and not parts.fragment
    )


_CLAIM_NAME = re.compile(r"[A-Za-z0-9_:.-]{1,64}")
_CLAIM_PATH = re.compile(r"[A-Za-z0-9_:-]{1,64}(?:\.[A-Za-z0-9_:-]{1,64}){0,7}")
# Claims the gateway reads for itself: a policy gets them as subject fields, not as `claims`.
_OWN_CLAIMS = frozenset({"sub", "email", "name", "roles", "exp", "iat", "nbf", "aud", "iss"})
_LISTS = frozenset(
    {
        "jwt_algorithms",
        "jwt_claims",
        "oauth_authorization_servers",
        "mcp_scopes",
        "allowed_origins",
        "private_upstream_cidrs",
        "stdio_readonly_paths",
    }
)


_SECRET_FIELDS = {
    "jwt_secret",
    "vault_token",
    "vault_secret_id",
    "metrics_token",
    "bundle_token",
    "bundle_signing_key",
    "audit_checkpoint_key",
}
_ALIASES = {
    # The standard Vault variables are honoured when the GATEWAY_ names are unset.
    "vault_addr": "VAULT_ADDR",
    "vault_token": "VAULT_TOKEN",
}


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for field in Settings.__struct_fields__:
        name = f"GATEWAY_{field.upper()}"
        if name in env and env[name] != "":
            raw[field] = env[name]
        elif field in _ALIASES and env.get(_ALIASES[field]):
            raw[field] = env[_ALIASES[field]]
    for field in _LISTS & raw.keys():  # comma-separated in the environment
        raw[field] = [item.strip() for item in raw[field].split(",") if item.strip()]
    return raw


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Environment first, then `GATEWAY_CONFIG_FILE` (TOML) for what env leaves unset."""
    env = os.environ if env is None else env
    merged: dict[str, Any] = {}
    config_file = env.get("GATEWAY_CONFIG_FILE")
    if config_file:
        try:
            merged.update(tomllib.loads(Path(config_file).read_text()))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"GATEWAY_CONFIG_FILE {config_file!r}: {exc}") from exc
        unknown = sorted(set(merged) - set(Settings.__struct_fields__))
        if unknown:  # a typo must not silently fall back to a default
            raise ConfigError(f"GATEWAY_CONFIG_FILE {config_file!r}: unknown keys {unknown}")
    merged.update(_from_env(env))
    try:
        settings = msgspec.convert(merged, Settings, strict=False)
    except msgspec.ValidationError as exc:
        # Name the variable, not the Struct field: `port` -> GATEWAY_PORT.
        field, message = field_error(exc)
        name = f"GATEWAY_{field.split('[')[0].split('.')[0].upper()}" if field else "a setting"
        raise ConfigError(f"{name}: {message}") from exc
    settings.validate()
    return settings
