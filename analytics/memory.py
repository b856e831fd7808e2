"""Memory stays flat in the size of the log: freed block buffers go back to the OS.

Arrow's default allocator keeps freed blocks; glibc's keeps big ones in per-thread arenas unless
they are mmapped, and buffers under the mmap threshold until trimmed. (No-ops where glibc is not
the C library.)
"""

from __future__ import annotations

import atexit
import ctypes
import gc
import itertools
from collections.abc import Callable


def _libc():
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


_LIBC = _libc()


def flat_memory() -> None:
    """Make this process's allocators hand big freed buffers back (call once, at start)."""
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())
    if _LIBC is None:
        return
    m_trim_threshold, m_mmap_threshold, m_arena_max = -1, -3, -8
    # Buffers above this get their own mapping, faulted in page by page each time: a block's
    # (8 MB) temporaries stay below it and are reused; what the arenas keep is trimmed
    # (release_freed), not at every free: setting the mmap threshold leaves glibc's trim
    # threshold at 128 KB, and handing back and faulting in a block's pages again cost a tenth
    # of the CPU time.
    _LIBC.mallopt(m_mmap_threshold, 32 << 20)
    _LIBC.mallopt(m_trim_threshold, 64 << 20)
    _LIBC.mallopt(m_arena_max, 2)


def hand_back() -> None:
    """Hand the arenas' freed buffers back to the OS now (before a step that needs a lot)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def release_freed(every: int = 1) -> Callable[[], None]:
    """A function that hands the arenas' freed buffers back to the OS on every `every`th call."""
    calls = itertools.count(1)

    def release() -> None:
        if next(calls) % every == 0:
            hand_back()

    return release


def leave_heap_at_exit() -> None:
    """At exit, leave this process's objects to the OS rather than collect them one by one:
    the interpreter's last garbage collections take some 50 ms after a large log, a fiftieth
    of a run. For a program (the CLI), whose files are all closed by then."""
    atexit.unregister(gc.freeze)  # once, however often it is asked for
    atexit.register(gc.freeze)  # run after the handlers registered later (LIFO)
