"""The policy directory as an OPA bundle (a gzipped tarball OPA downloads and activates), built
only from a directory that passed every check a reload runs and its Rego tests.

- Revision: the `.manifest`'s `revision` is the embedded engine's revision id for the same
  files (`PolicySources.revision`), so a decision record's revision means the same files on
  both engines, and OPA's status names the revision it activated.
- Contents: the `.manifest` (roots as the directory's), every `.rego` module but the tests,
  each `data.json` at its directory's path — what the embedded engine loads, nothing else.
- Signature (optional): `.signatures.json` holds one JWT whose `files` list every file with
  the SHA-256 OPA computes for it (gateway/policy/bundle_hash.py), signed with HS256 (a
  shared secret) or RS256/ES256 (a PEM private key) and the key id OPA is configured with
  (`keys:` and `bundles.<name>.signing.keyid`): OPA refuses a bundle whose files do not match.
- Deterministic: the same files give byte-identical bundles (sorted entries, fixed times and
  owners, gzip without a timestamp), so the ETag OPA polls with stays the same across
  replicas and restarts.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path
from typing import Any

import jwt
import msgspec

from gateway.policy.bundle_hash import raw_digest, structured_digest
from gateway.policy.embedded import compile_policy
from gateway.policy.rego_tests import run_policy_tests
from gateway.policy.sources import MANIFEST, PolicyLoadError, PolicySources

SIGNATURES = ".signatures.json"
MIN_HMAC_KEY_BYTES = 32  # RFC 7518 §3.2: a key as long as the hash
HASH_ALGORITHM = "SHA-256"
_encode = msgspec.json.Encoder(order="sorted").encode


class BundleSigner(msgspec.Struct, frozen=True, kw_only=True):
    """How bundles are signed: the key (an HMAC secret, or a PEM private key) and its id."""

    key: str
    key_id: str = "gateway"

    def __post_init__(self) -> None:
        if self.algorithm == "HS256" and len(self.key.encode()) < MIN_HMAC_KEY_BYTES:
            raise ValueError(
                f"an HMAC signing key needs at least {MIN_HMAC_KEY_BYTES} bytes "
                f"(this one has {len(self.key.encode())}), or give a PEM private key"
            )

    @property
    def algorithm(self) -> str:
        if "PRIVATE KEY-----" not in self.key:
            return "HS256"
        return "ES256" if "EC PRIVATE KEY" in self.key else "RS256"

    def __repr__(self) -> str:  # never the key in a log line or a traceback
        return f"BundleSigner(key_id={self.key_id!r}, algorithm={self.algorithm!r})"


class PolicyBundle(msgspec.Struct, frozen=True, kw_only=True):
    revision: str
    data: bytes  # the .tar.gz
    signed: bool

    @property
    def etag(self) -> str:
        return f'"{self.revision}{"-s" if self.signed else ""}"'


def checked_sources(policy_dir: str | Path) -> PolicySources:
    """The directory's sources, after the checks a reload runs (compile, unknown input fields
    against the schema, every entrypoint defined) and its Rego tests; PolicyLoadError names
    the first problem (file:line, or the failing tests)."""
    compiled = compile_policy(policy_dir)
    failed = [t for t in run_policy_tests(policy_dir) if not t.passed]
    if failed:
        named = "\n".join(f"  {t.location} {t.full_name}: {t.output}" for t in failed[:20])
        raise PolicyLoadError(
            f"{policy_dir}: {len(failed)} Rego test(s) fail:\n{named}", revision=compiled.revision
        )
    return compiled.sources


def _files(sources: PolicySources) -> list[tuple[str, bytes, Any]]:
    """(name in the bundle, bytes, the parsed value for a structured file, else None)."""
    roots = sources.manifest.roots if sources.manifest else [""]
    manifest = {"revision": sources.revision, "roots": roots}
    files: list[tuple[str, bytes, Any]] = [(MANIFEST, _encode(manifest), manifest)]
    for path, text in sorted(sources.modules.items()):
        files.append((Path(path).as_posix(), text.encode(), None))
    for where, value in sorted(sources.data_files.items()):
        files.append((f"{where}/data.json" if where else "data.json", _encode(value), value))
    return files


def _signature(files: list[tuple[str, bytes, Any]], signer: BundleSigner) -> bytes:
    listed = [
        {
            "name": name,
            "hash": raw_digest(raw) if value is None else structured_digest(value),
            "algorithm": HASH_ALGORITHM,
        }
        for name, raw, value in files
    ]
    token = jwt.encode(
        {"files": listed}, signer.key, algorithm=signer.algorithm, headers={"kid": signer.key_id}
    )
    return _encode({"signatures": [token]})


def _tar(entries: list[tuple[str, bytes]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in entries:
            info = tarfile.TarInfo("/" + name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def build_bundle(sources: PolicySources, signer: BundleSigner | None = None) -> PolicyBundle:
    """The bundle of `sources` (checked by `checked_sources` first: this only packs)."""
    files = _files(sources)
    entries = [(name, raw) for name, raw, _ in files]
    if signer is not None:
        entries.append((SIGNATURES, _signature(files, signer)))
    return PolicyBundle(revision=sources.revision, data=_tar(entries), signed=signer is not None)


def unpack_bundle(bundle: Path, into: Path) -> None:
    """A bundle's policy files written under `into` (a directory the embedded engine loads:
    its revision is the bundle's). Only regular files at relative paths inside `into`;
    anything else is refused, never written."""
    try:
        with tarfile.open(bundle, mode="r:gz") as tar:
            for member in tar.getmembers():
                name = member.name.lstrip("/")
                parts = Path(name).parts
                if name == SIGNATURES or member.isdir():
                    continue
                if not member.isfile() or not parts or ".." in parts:
                    raise PolicyLoadError(f"{bundle}: {member.name!r} is not a bundle file")
                extracted = tar.extractfile(member)
                assert extracted is not None  # a regular file
                target = into.joinpath(*parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(extracted.read())
    except (OSError, tarfile.TarError) as exc:
        raise PolicyLoadError(f"{bundle}: not a readable bundle ({exc})") from exc
