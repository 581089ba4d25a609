"""The host side of a sandbox: its uid, its workspace and its env file.

    <GATEWAY_STDIO_WORKSPACE_DIR>/        0711, the gateway's (root)
      <digest of user and server>/        0700, the sandbox's uid
        workspace/                        its files, kept between starts (/workspace inside)
        env-<instance>                    0400, the server's env while it runs (removed after)

The env file is named per start: a sandbox that just died is still being cleaned up when the
next request starts its successor (or one with egress runs beside one without), and the old
one's cleanup must never remove the file the new one reads.

The uid is derived from (user, server), so a workspace keeps its owner across restarts and
replicas, and no two sandboxes of one user share a uid (two of different users may, rarely:
one in a million; they still see nothing of each other, mounts and namespaces being their own).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from gateway.sandbox.bwrap import env_file_text

BASE_UID = 1_000_000
UID_SPAN = 1_000_000


def host_uid(user_id: str, server_id: str) -> int:
    digest = hashlib.sha256(f"{user_id}\0{server_id}".encode()).digest()
    return BASE_UID + int.from_bytes(digest[:8], "big") % UID_SPAN


@dataclass(frozen=True)
class Workspace:
    uid: int
    home: Path  # the sandbox's own directory
    workspace: Path
    env_file: Path


class Workspaces:
    def __init__(self, root: str) -> None:
        self.root = Path(root)

    def of(self, user_id: str, server_id: str, *, instance: str = "") -> Workspace:
        """Where (user, server)'s sandbox lives; `instance` names one start's env file."""
        name = hashlib.sha256(f"{user_id}\0{server_id}".encode()).hexdigest()[:32]
        home = self.root / name
        env = home / (f"env-{instance}" if instance else "env")
        return Workspace(host_uid(user_id, server_id), home, home / "workspace", env)

    def prepare(self, place: Workspace, env: dict[str, str]) -> None:
        """Blocking (run it on a worker thread): the directories, owned by the sandbox's uid,
        and the env file only it can read."""
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o711)  # others may pass through, not list
        for path in (place.home, place.workspace):
            path.mkdir(mode=0o700, exist_ok=True)
            os.chown(path, place.uid, place.uid)
            os.chmod(path, 0o700)
        text = env_file_text(env)
        place.env_file.unlink(missing_ok=True)
        fd = os.open(place.env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o400)
        try:
            os.fchown(fd, place.uid, place.uid)
            os.write(fd, text.encode())
        finally:
            os.close(fd)

    @staticmethod
    def forget_env(place: Workspace) -> None:
        """Blocking: the env file goes when the sandbox does."""
        place.env_file.unlink(missing_ok=True)

    @staticmethod
    def remove(place: Workspace) -> None:
        """Blocking: the whole sandbox directory (the probe's throwaway one)."""
        shutil.rmtree(place.home, ignore_errors=True)
