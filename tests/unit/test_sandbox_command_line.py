"""The sandbox's command line (gateway/sandbox/bwrap.py): network only with egress, no secret
on it, and an env file whose values the sandbox's shell reads as data, never as code."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gateway.sandbox import Limits, SandboxSpec, command_line
from gateway.sandbox.bwrap import env_file_text

LIMITS = Limits(memory_bytes=2**31, cpu_seconds=60, processes=64, open_files=1024)


def _spec(egress: bool) -> SandboxSpec:
    return SandboxSpec(
        command="/usr/bin/node",
        args=["server.js", "--flag"],
        host_uid=1_234_567,
        workspace="/srv/ws/abc/workspace",
        env_file="/srv/ws/abc/env",
        egress=egress,
        limits=LIMITS,
        readonly_paths=("/opt/mcp",),
    )


def test_without_egress_no_network_and_no_resolver() -> None:
    argv = command_line(_spec(False))
    assert "--unshare-all" in argv and "--share-net" not in argv
    assert "/etc/resolv.conf" not in argv


def test_with_egress_the_network_and_name_resolution() -> None:
    argv = command_line(_spec(True))
    assert "--share-net" in argv
    if Path("/etc/resolv.conf").exists():
        assert "/etc/resolv.conf" in argv


def test_limits_uid_and_the_server_come_in_that_order() -> None:
    argv = command_line(_spec(False))
    assert argv[0] == "/usr/bin/prlimit" and "--nproc=64" in argv and "--as=2147483648" in argv
    assert argv.index("/usr/bin/setpriv") < argv.index("/usr/bin/bwrap")
    assert "--reuid=1234567" in argv and "--no-new-privs" in argv
    assert argv[argv.index("--uid") + 1] == "65534"
    assert argv[-3:] == ["/usr/bin/node", "server.js", "--flag"]  # after `sh -c <launch>`
    bind = argv.index("/srv/ws/abc/workspace")
    assert argv[bind - 1 : bind + 2] == ["--bind", "/srv/ws/abc/workspace", "/workspace"]
    assert argv[argv.index("/opt/mcp") - 1 :][:3] == ["--ro-bind", "/opt/mcp", "/opt/mcp"]
    assert "--clearenv" in argv and "--remount-ro" in argv


def test_the_env_file_is_read_as_data(tmp_path: Path) -> None:
    canary = tmp_path / "pwned"
    hostile = f"'; touch {canary}; echo '$(touch {canary})`touch {canary}`\"\\"
    env = tmp_path / "env"
    env.write_text(env_file_text({"TOKEN": hostile, "EMPTY": "", "LINES": "a\nb"}))
    read = subprocess.run(
        ["/bin/sh", "-c", f'set -a; . {env}; set +a; printf "%s|%s|%s" "$TOKEN" "$EMPTY" "$LINES"'],
        capture_output=True,
        text=True,
        check=True,
        env={},
    )
    assert read.stdout == f"{hostile}||a\nb"
    assert not canary.exists()


def test_a_value_with_a_nul_byte_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="credential TOKEN holds a NUL byte"):
        env_file_text({"TOKEN": "a\0b"})
