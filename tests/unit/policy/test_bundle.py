"""`gateway policy bundle` and what it packs: only a directory that passes every check and
its Rego tests, deterministic bytes whose manifest revision is the embedded engine's, a
signing key too short refused, a bundle unpacked back to the same revision."""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

import msgspec
import pytest

from gateway.cli import main
from gateway.config import REPO_POLICY_DIR
from gateway.policy.bundle import (
    BundleSigner,
    build_bundle,
    checked_sources,
    unpack_bundle,
)
from gateway.policy.bundle_hash import go_json_string
from gateway.policy.embedded import compile_policy
from gateway.policy.sources import PolicyLoadError

KEY = "bundle-signing-key-for-the-tests-0123456789"


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(REPO_POLICY_DIR, target)
    return target


def _members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


def test_the_bundle_is_the_directory_under_the_embedded_revision(tmp_path: Path) -> None:
    sources = checked_sources(REPO_POLICY_DIR)
    first = build_bundle(sources, BundleSigner(key=KEY))
    again = build_bundle(checked_sources(REPO_POLICY_DIR), BundleSigner(key=KEY))

    assert first.data == again.data  # same files, same bytes: one ETag on every replica
    assert first.revision == compile_policy(REPO_POLICY_DIR).revision
    members = _members(first.data)
    manifest = msgspec.json.decode(members["/.manifest"])
    assert manifest == {"revision": first.revision, "roots": ["gateway", "system", "schemas"]}
    assert "/.signatures.json" in members
    assert not any(name.endswith("_test.rego") for name in members)  # tests are not policy
    assert "/gateway/data.json" in members and "/system/log/data.json" in members
    unpacked = tmp_path / "unpacked"
    unpack_bundle(_write(tmp_path / "b.tar.gz", first.data), unpacked)
    assert compile_policy(unpacked).revision == first.revision


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_a_failing_rego_test_stops_the_bundle(policies: Path) -> None:
    (policies / "gateway" / "authz" / "broken_test.rego").write_text(
        "package gateway.authz_test\n\ntest_never_true if {\n\t1 == 2\n}\n"
    )
    with pytest.raises(PolicyLoadError, match=r"(?s)1 Rego test\(s\) fail:.*test_never_true"):
        checked_sources(policies)


def test_a_misspelled_input_field_stops_the_bundle(policies: Path) -> None:
    (policies / "gateway" / "authz" / "typo.rego").write_text(
        'package gateway.authz\n\ndeny contains "x" if {\n\tinput.proposed.transprt == "stdio"\n}\n'
    )
    with pytest.raises(PolicyLoadError, match="transprt"):
        checked_sources(policies)


def test_the_cli_writes_a_bundle_only_after_the_checks(
    policies: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "key"
    key.write_text(KEY + "\n")
    out = tmp_path / "bundle.tar.gz"
    assert (
        main(["policy", "bundle", str(policies), "--out", str(out), "--signing-key", str(key)]) == 0
    )
    revision = compile_policy(policies).revision
    assert f"revision {revision}, signed (HS256, key id gateway)" in capsys.readouterr().out
    assert "/.signatures.json" in _members(out.read_bytes())

    (policies / "gateway" / "authz" / "typo.rego").write_text(
        'package gateway.authz\n\ndeny contains "x" if {\n\tinput.proposed.transprt == "stdio"\n}\n'
    )
    refused = tmp_path / "refused.tar.gz"
    assert main(["policy", "bundle", str(policies), "--out", str(refused)]) == 1
    assert "no bundle written" in capsys.readouterr().err
    assert not refused.exists() and not refused.with_name("refused.tar.gz.partial").exists()

    key.write_text("short")
    assert main(["policy", "bundle", str(REPO_POLICY_DIR), "--signing-key", str(key)]) == 2
    assert "at least 32 bytes" in capsys.readouterr().err


def test_a_signer_never_shows_its_key() -> None:
    signer = BundleSigner(key=KEY, key_id="k1")
    assert KEY not in repr(signer) and "k1" in repr(signer)
    with pytest.raises(ValueError, match="at least 32 bytes"):
        BundleSigner(key="short")


def test_unpacking_refuses_a_path_out_of_the_directory(tmp_path: Path) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        info = tarfile.TarInfo("/../escaped.rego")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(PolicyLoadError, match="is not a bundle file"):
        unpack_bundle(_write(tmp_path / "evil.tar.gz", raw.getvalue()), tmp_path / "into")
    assert not (tmp_path / "escaped.rego").exists()


@pytest.mark.parametrize(
    ("text", "go"),
    [
        ('a"b\\c', '"a\\"b\\\\c"'),
        ("\b\f\n\r\t", '"\\b\\f\\n\\r\\t"'),
        ("\x01\x1f", '"\\u0001\\u001f"'),
        ("\u2028\u2029", '"\\u2028\\u2029"'),
        ("<&> é 中", '"<&> é 中"'),  # HTML escaping off; UTF-8 as is
    ],
)
def test_strings_are_hashed_as_go_writes_them(text: str, go: str) -> None:
    assert go_json_string(text) == go.encode()
