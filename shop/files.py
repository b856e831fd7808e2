"""Writing a file whole: into a hidden `.part` beside it, then renamed over it, so a reader (or
a nightly run that fails halfway) never sees half a file. Shared by analytics and repairs."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def partial_path(target: Path) -> Path:
    """The hidden file `target` is written to before it replaces the old one."""
    return target.with_name(f".{target.name}.part")


@contextlib.contextmanager
def replaced_whole(
    target: Path, mode: int | None = None, durable: bool = False
) -> Iterator[IO[bytes]]:
    """A binary file that becomes `target` when the block ends without an error (`mode`: the
    permission bits to create it with, e.g. 0o600 for keys; `durable`: on disk before it
    replaces `target`, for what must survive a power cut)."""
    target = Path(target)
    partial = partial_path(target)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
    fd = os.open(partial, flags, 0o666 if mode is None else mode)
    try:
        with os.fdopen(fd, "wb") as sink:
            if mode is not None:
                os.fchmod(sink.fileno(), mode)
            yield sink
            if durable:
                sink.flush()
                os.fsync(sink.fileno())
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def write_whole(
    target: Path, data: bytes | str, mode: int | None = None, durable: bool = False
) -> Path:
    """Write `data` (text as UTF-8) to `target` through a `.part` file; return `target`."""
    with replaced_whole(target, mode, durable) as sink:
        sink.write(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(target)
