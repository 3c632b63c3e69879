"""One writer per output folder: an exclusive lock on OUT/.build.lock for the whole of `corpus build`, and on
OUT/.fetch.lock for the whole of `corpus fetch` (FolderLock serves both; a fetch and a build are not kept apart,
since a build reads a fetch's folder only as input and never writes there).

`filelock`'s UnixFileLock is flock(2) on an open file: the kernel drops it when the holding process
ends however it ends (SIGKILL included), so a killed build leaves no stale lock, and the child
processes a build starts (datatrove's worker pool, the one-worker stages' child) run while the
parent holds it. The lock file names its holder (pid, host, start time) so a refused second build
can say who has the folder. What it protects: everything `corpus build` writes under OUT, from the
first check of the folder to the report. Under Slurm the submitting process holds it only while it
submits; the jobs themselves are not locked (datatrove's completion markers keep their tasks apart).
"""

from __future__ import annotations

import json
import os
import socket
import time

from filelock import Timeout, UnixFileLock

LOCK_NAME = ".build.lock"


class FolderLocked(RuntimeError):
    """Another process (a build, or a fetch) holds the output folder."""


BuildLocked = FolderLocked


class FolderLock:
    def __init__(self, root: str, name: str = LOCK_NAME, command: str = "corpus build"):
        self.root, self.command = root, command
        self.path = os.path.join(root, name)
        self._lock = UnixFileLock(self.path, timeout=0)
        self._created_root = False
        self._created_file = False

    def __enter__(self) -> "FolderLock":
        if not os.path.isdir(self.root):
            os.makedirs(self.root)
            self._created_root = True
        self._created_file = not os.path.exists(self.path)
        try:
            self._lock.acquire()
        except Timeout:
            raise FolderLocked(f"{self.root} is in use by another {self.command} ({self.holder()}); "
                               "wait for it to finish, or write elsewhere (another output folder)") from None
        # the lock is the flock; the file's text only says who holds it (written after acquiring, read by the refused)
        with open(self.path, "r+") as f:
            f.truncate(0)
            f.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}))
        return self

    def holder(self) -> str:
        try:
            with open(self.path) as f:
                who = json.loads(f.read() or "{}")
        except (OSError, ValueError):
            who = {}
        return f"pid {who.get('pid', '?')} on {who.get('host', '?')}, started {who.get('started', '?')}"

    def release_if_unused(self) -> None:
        """Undo what taking the lock created when the build never started (a refused output folder)."""
        if self._created_file and self._lock.is_locked:
            os.remove(self.path)  # while held: a build that opened it meanwhile was refused at once (timeout 0)
        self.__exit__()
        if self._created_root and not os.listdir(self.root):
            os.rmdir(self.root)

    def __exit__(self, *exc) -> None:
        if self._lock.is_locked:
            self._lock.release()


BuildLock = FolderLock
