"""The command line of one sandbox. Read from the outside in:

    prlimit  (memory, CPU seconds, processes, open files, no core dumps)
    setpriv  (the sandbox's own unprivileged host uid, no capabilities, no new privileges)
    bwrap    (new namespaces: user, mount, pid, ipc, uts, cgroup, and network unless egress;
              the system's /usr read-only, a private /tmp, the workspace, nothing else)
    /bin/sh  (inside: exports the server's env from the env file, then execs the server)

Why each piece is there:
- The limits are set before anything runs, so the server cannot raise them (no capability).
- A host uid per (user, server) (workspaces.py) makes RLIMIT_NPROC count that sandbox's
  processes only, and makes every file it writes its own; running bwrap as root would map the
  sandbox onto uid 0, whose files (mode 0600 and all) it could then open where mounted.
- The server's secrets never appear on a command line (/proc/<pid>/cmdline is world-readable)
  nor in the environment of prlimit, setpriv or bwrap (an `LD_PRELOAD` credential would run
  code there, outside the sandbox): they are in a file only the sandbox's uid can read, bound
  read-only at /run/gateway/env and read by the shell inside.
"""

from __future__ import annotations

import os
import shlex

import msgspec

# Where the sandbox sees its workspace (its cwd and HOME) and the env file.
WORKSPACE = "/workspace"
ENV_FILE = "/run/gateway/env"
# The sandbox's own uid and gid inside its user namespace (nobody).
INSIDE_ID = 65534
PATH = "/usr/local/bin:/usr/bin:/bin"
PRLIMIT = "/usr/bin/prlimit"
SETPRIV = "/usr/bin/setpriv"
BWRAP = "/usr/bin/bwrap"
# The system's programs and libraries, read-only: top-level paths mirrored as they are on
# the host (a merged-/usr system has /lib -> usr/lib symlinks; they are made as symlinks).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Of /etc, only what the dynamic linker, locales, time and interpreters read.
SYSTEM_FILES = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/mime.types",
)
# With egress only: name resolution and TLS roots.
NETWORK_FILES = (
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/ca-certificates.conf",
)
# Inside: export every variable the env file assigns, then become the server.
_LAUNCH = f'set -a; . {ENV_FILE}; set +a; exec "$0" "$@"'


class Limits(msgspec.Struct, kw_only=True, frozen=True):
    """Per sandbox (setrlimit, inherited by every process in it)."""

    memory_bytes: int  # RLIMIT_AS of each process: address space, not resident memory
    cpu_seconds: int  # RLIMIT_CPU of each process: killed (SIGXCPU/SIGKILL) past it
    processes: int  # RLIMIT_NPROC: processes and threads of the sandbox's uid
    open_files: int  # RLIMIT_NOFILE


class SandboxSpec(msgspec.Struct, kw_only=True, frozen=True):
    """One sandbox: what runs, as whom, what it may see. No secret values here."""

    command: str
    args: list[str]
    host_uid: int
    workspace: str  # host path, bound read-write at WORKSPACE
    env_file: str  # host path, bound read-only at ENV_FILE
    egress: bool
    limits: Limits
    readonly_paths: tuple[str, ...] = ()  # extra host paths, read-only at the same path


def command_line(spec: SandboxSpec) -> list[str]:
    limits = spec.limits
    uid = str(spec.host_uid)
    argv = [
        PRLIMIT,
        f"--as={limits.memory_bytes}",
        f"--cpu={limits.cpu_seconds}",
        f"--nproc={limits.processes}",
        f"--nofile={limits.open_files}",
        "--core=0",
        "--",
        SETPRIV,
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--no-new-privs",
        "--bounding-set=-all",
        "--inh-caps=-all",
        "--",
        BWRAP,
        "--unshare-all",
        *(["--share-net"] if spec.egress else []),
        "--unshare-user",
        "--uid", str(INSIDE_ID),
        "--gid", str(INSIDE_ID),
        "--hostname", "mcp-sandbox",
        "--cap-drop", "ALL",
        "--die-with-parent",
        "--new-session",
        *_system_binds(spec.egress),
        "--proc", "/proc",
        "--dev", "/dev",
        "--tmpfs", "/tmp",
        "--bind", spec.workspace, WORKSPACE,
        "--ro-bind", spec.env_file, ENV_FILE,
    ]  # fmt: skip
    for path in spec.readonly_paths:
        argv += ["--ro-bind", path, path]
    argv += [
        "--remount-ro", "/",  # the sandbox's own root: nothing writable but /tmp and WORKSPACE
        "--chdir", WORKSPACE,
        "--clearenv",
        "--setenv", "HOME", WORKSPACE,
        "--setenv", "PATH", PATH,
        "--setenv", "TMPDIR", "/tmp",
        "--setenv", "LANG", "C.UTF-8",
        "--",
        "/bin/sh", "-c", _LAUNCH, spec.command, *spec.args,
    ]  # fmt: skip
    return argv


def _system_binds(egress: bool) -> list[str]:
    binds: list[str] = []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            binds += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            binds += ["--ro-bind", path, path]
    for path in (*SYSTEM_FILES, *(NETWORK_FILES if egress else ())):
        if os.path.lexists(path):
            binds += ["--ro-bind-try", path, path]
    return binds


def env_file_text(env: dict[str, str]) -> str:
    """`NAME='value'` lines the sandbox's shell reads (names are checked when stored:
    ^[A-Z_][A-Z0-9_]*$; values are quoted whole, so nothing in one is run)."""
    for name, value in env.items():
        if "\0" in value:
            raise ValueError(f"credential {name} holds a NUL byte: it cannot be an env value")
    return "".join(f"{name}={shlex.quote(value)}\n" for name, value in sorted(env.items()))
