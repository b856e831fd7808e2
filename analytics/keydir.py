"""The per-day visitor-hash keys and where they live: a private runtime folder on tmpfs, never the
state.

A keys file on persistent disk beside the per-visitor rows would let anyone holding both hash
every IPv4 address (2^32 tries) and recover visitors' addresses. So the keys go to a runtime
folder (systemd's RuntimeDirectory, $XDG_RUNTIME_DIR, /dev/shm), which is memory and is gone at
reboot; without one they stay in memory for the run only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import stat
from pathlib import Path

from analytics.days import date_of
from shop.config import LIMITS
from shop.files import write_whole

KEY_LIFETIME = dt.timedelta(hours=LIMITS["visitor_key_hours"])
EARLIEST_ZONE = dt.timedelta(hours=14)
APP = "itfixe-analytics"
SHM = Path("/dev/shm")
MEMORY_ONLY = (
    "no runtime folder for the visitor-hash keys (set $RUNTIME_DIRECTORY or $XDG_RUNTIME_DIR, "
    "or give --keys-dir): keys are kept in memory for this run only, so a day split over two "
    "runs may count a visitor twice"
)


class KeysDirError(Exception):
    """A keys folder that cannot be used safely; the message names it."""


def default_candidates(env: dict[str, str] | None = None) -> list[Path]:
    """Runtime folders to try, best first."""
    env = os.environ if env is None else env
    found = []
    if env.get("RUNTIME_DIRECTORY"):  # systemd: one path per RuntimeDirectory=, ':'-separated
        found.append(Path(env["RUNTIME_DIRECTORY"].split(":")[0]))
    if env.get("XDG_RUNTIME_DIR") and Path(env["XDG_RUNTIME_DIR"]).is_dir():
        found.append(Path(env["XDG_RUNTIME_DIR"]) / APP)
    if SHM.is_dir():
        found.append(SHM / f"{APP}-{os.getuid()}")
    return found


def private_folder(path: Path) -> Path:
    """`path` as an existing folder only this user can enter (created 0700 if missing)."""
    path = Path(path)
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(path)
    except OSError as e:
        raise KeysDirError(f"{path}: cannot create the keys folder ({e.strerror})") from None
    if not stat.S_ISDIR(info.st_mode):  # a symlink too: in /dev/shm anyone may plant one
        raise KeysDirError(f"{path}: not a folder")
    if info.st_uid != os.getuid():
        raise KeysDirError(f"{path}: the keys folder belongs to another user")
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(path, 0o700)
    return path


def keys_folder(explicit: Path | None, env: dict[str, str] | None = None) -> Path | None:
    """The folder for the keys file: `explicit` (which must work), else the first usable
    runtime folder, else None (memory only)."""
    if explicit is not None:
        return private_folder(explicit)
    for candidate in default_candidates(env):
        try:
            return private_folder(candidate)
        except KeysDirError:
            continue
    return None


def check_outside(keys: Path, state: Path) -> None:
    """Refuse a keys folder inside the state folder (the keys must not sit beside the rows)."""
    keys, state = Path(keys).resolve(), Path(state).resolve()
    if keys.is_relative_to(state):
        raise KeysDirError(
            f"{keys}: the keys folder is inside the state folder {state}; "
            "use a runtime folder on tmpfs (e.g. $XDG_RUNTIME_DIR) so the keys never reach the disk"
        )


def keys_file(folder: Path, state: Path) -> Path:
    """The keys file of one state folder (several states may share a runtime folder)."""
    digest = hashlib.sha256(str(Path(state).resolve()).encode()).hexdigest()[:16]
    return Path(folder) / f"day-keys-{digest}.json"


def key_is_open(day: int, now: dt.datetime) -> bool:
    """True while `day`'s key may still be held: until 48 h after the day ends.

    Days are the log's local days; the earliest any local day can end is at UTC+14, so
    counting from there keeps a key no longer than 48 h in every time zone.
    """
    end = dt.datetime.combine(date_of(day + 1), dt.time(), dt.UTC) - EARLIEST_ZONE
    return now < end + KEY_LIFETIME


class DayKeys:
    """Random per-day hash keys, in memory or in a keys file (analytics.keydir: on tmpfs, never
    in the state folder) until 48 h after their day ends."""

    def __init__(self, path: Path | None = None, now: dt.datetime | None = None) -> None:
        self.path = path
        self.now = now or dt.datetime.now(dt.UTC)
        self.keys: dict[int, bytes] = {}
        # A new day's key is derived from this random seed (memory only, never written): so
        # the processes that read parts of one log (analytics.split) make the same keys.
        self._seed = os.urandom(32)
        if path is not None and path.is_file():
            try:
                stored = json.loads(path.read_text(encoding="utf-8"))
                self.keys = {int(d): bytes.fromhex(k) for d, k in stored.items()}
            except (ValueError, AttributeError):  # damaged: new keys; open days may count twice
                self.keys = {}
        self._forget_expired()

    def is_open(self, day: int) -> bool:
        return key_is_open(day, self.now)

    def key(self, day: int) -> bytes:
        if day not in self.keys:
            tag = day.to_bytes(8, "little", signed=True)
            self.keys[day] = hashlib.blake2b(tag, key=self._seed, digest_size=32).digest()
        return self.keys[day]

    def save(self) -> None:
        """Write the keys still allowed to exist (owner-only file), or remove the file if none."""
        if self.path is None:
            return
        self._forget_expired()
        if not self.keys:
            self.path.unlink(missing_ok=True)
            return
        stored = {str(d): k.hex() for d, k in sorted(self.keys.items())}
        write_whole(self.path, json.dumps(stored), mode=0o600)

    def _forget_expired(self) -> None:
        self.keys = {d: k for d, k in self.keys.items() if self.is_open(d)}
