"""One large log read on several cores: each process takes a stretch of whole lines.

Threads share one interpreter, and the per-value work (addresses, vocabularies, user agents) is
Python that holds it; so plain log files are cut at line starts into one stretch per core, and
forked children (`Child`) read, anonymise, classify and count the later stretches while the
parent does the first. The parent then takes their partial counts over in order
(pipeline.Pipeline.read), mapping their vocabulary codes onto its own, so every value, visitor
key and event arrives in the order one reader would have met it and the results are one
reader's. A `Helper` process does slow work the parent tells it of (ua-parser's). A child or
helper that fails leaves its work to the parent: nothing is lost, it only takes longer.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import itertools
import os
import pickle
import signal
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from analytics.read import Source

MIN_PART_BYTES = 32 * 1024 * 1024  # less is done sooner by one process than split
MAX_PROCESSES = 4  # each holds its own blocks in flight: memory grows with the processes
SCAN_BYTES = 64 * 1024  # read at a time while looking for the next line start
# what may wait in the pipe to a helper still preparing (Linux's default is 64 KB): telling
# it does not stall the reading meanwhile (a busy site's user agents are some 600 KB)
HELPER_PIPE_BYTES = 1024 * 1024
_COUNT = struct.Struct("<Q")  # one progress report: bytes read (writes this small are atomic)
Item = TypeVar("Item")
Answer = TypeVar("Answer")


@dataclass(frozen=True)
class Segment:
    """Bytes `start` to `end` (None: to the end) of a source, whole lines."""

    source: Source
    start: int = 0
    end: int | None = None


def processes() -> int:
    """The processors this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def plan(sources: list[Source], parts: int | None = None) -> list[list[Segment]]:
    """The sources cut into `parts` stretches of about equal size at line starts (default: one
    per processor, of at least MIN_PART_BYTES); one stretch when they cannot be cut (stdin,
    gzip, no fork)."""
    whole = [[Segment(s) for s in sources]]
    try:
        return _cut(sources, parts) or whole
    except OSError:  # unreadable or gone: reading it whole says so, as for any file
        return whole


def _cut(sources: list[Source], parts: int | None) -> list[list[Segment]] | None:
    if not hasattr(os, "fork") or any(s.path is None or s.is_gzip for s in sources):
        return None
    sizes = [os.path.getsize(s.path) for s in sources]
    total = sum(sizes)
    if parts is None:
        parts = min(processes(), MAX_PROCESSES, total // MIN_PART_BYTES)
    if parts < 2 or not total:
        return None
    # cut points as (source index, byte offset of a line start), in order
    cuts = [(0, 0)]
    for k in range(1, parts):
        at, index = k * total // parts, 0
        while at >= sizes[index]:
            at -= sizes[index]
            index += 1
        cut = (index, _line_start(sources[index], at))
        if cut[1] >= sizes[index]:  # no line starts after it in that file: the next file
            cut = (index + 1, 0)
        if cut > cuts[-1] and cut[0] < len(sources):
            cuts.append(cut)
    cuts.append((len(sources), 0))
    return [_segments(sources, a, b) for a, b in itertools.pairwise(cuts)]


def in_parallel(work: Callable[[Item], Answer], items: list[Item]) -> list[Answer]:
    """`[work(item) for item in items]`, each item after the first in a forked child meanwhile
    (answers picklable). A child that fails leaves its item to this process: only slower."""
    if len(items) < 2 or not hasattr(os, "fork"):
        return [work(item) for item in items]
    children = [Child(functools.partial(_answer, work, item)) for item in items[1:]]
    try:
        answers = [work(items[0])]
        for child, item in zip(children, items[1:], strict=True):
            answer = child.result()
            answers.append(answer[0] if answer is not None else work(item))
        return answers
    finally:
        for child in children:
            child.close()


def _answer(work: Callable, item: object, report: Callable[[int], None]) -> tuple:
    return (work(item),)  # a tuple: an answer of None is not a failure


def _line_start(source: Source, at: int) -> int:
    """The first line start at or after byte `at` (the file's size if none)."""
    if at == 0:
        return 0
    with open(source.path, "rb") as f:
        f.seek(at - 1)
        position = at - 1
        while chunk := f.read(SCAN_BYTES):
            newline = chunk.find(b"\n")
            if newline >= 0:
                return position + newline + 1
            position += len(chunk)
        return position


def _segments(sources: list[Source], a: tuple[int, int], b: tuple[int, int]) -> list[Segment]:
    """The segments from cut `a` up to cut `b`."""
    found = []
    for index in range(a[0], min(b[0], len(sources) - 1) + 1):
        start = a[1] if index == a[0] else 0
        end = b[1] if index == b[0] else None
        if end is None or end > start:
            found.append(Segment(sources[index], start, end))
    return found


class Child:
    """A forked process running `work()`, whose picklable answer `result()` returns (None if
    it failed); `progress()` returns the bytes it reported read since the last call."""

    def __init__(self, work: Callable[[Callable[[int], None]], object]) -> None:
        result_r, result_w = os.pipe()
        progress_r, progress_w = os.pipe()
        with warnings.catch_warnings():
            # Python 3.12+ warns of any other thread (numpy's BLAS threads count): the child
            # runs only the reading code, which needs none of them, and starts its own
            warnings.simplefilter("ignore", DeprecationWarning)
            self.pid = os.fork()
        if self.pid == 0:  # the child: never returns
            os.close(result_r)
            os.close(progress_r)
            _run_child(work, result_w, progress_w)
        os.close(result_w)
        os.close(progress_w)
        os.set_blocking(progress_r, False)
        self._result, self._progress = result_r, progress_r
        self.reported = 0  # bytes its progress reports added up to (kept by the parent)

    def progress(self) -> int:
        done = 0
        with contextlib.suppress(BlockingIOError):
            while data := os.read(self._progress, 512 * _COUNT.size):
                done += sum(n for (n,) in _COUNT.iter_unpack(data))
        return done

    def result(self) -> object | None:
        """Wait for the child's answer (None if it failed); its progress stays readable."""
        chunks = []
        with open(self._result, "rb", closefd=False) as f:
            while chunk := f.read(1 << 20):
                chunks.append(chunk)
        _, status = os.waitpid(self.pid, 0)
        self.pid = 0
        if status != 0 or not chunks:
            return None
        try:
            ok, answer = pickle.loads(b"".join(chunks))
        except (pickle.UnpicklingError, EOFError, ValueError):
            return None
        return answer if ok else None

    def close(self) -> None:
        """Stop the child if it still runs (the parent gives up), reap it, close the pipes."""
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self.pid = 0
        for fd in (self._result, self._progress):
            if fd >= 0:
                os.close(fd)
        self._result = self._progress = -1


class Helper:
    """A forked process that gets something slow ready at once (`prepare()`, say a parser's
    tables), takes work as it is told it (`take(prepared, item)`) and at the end gives what it
    made of all of it (`give(prepared)`); its work holds none of the parent's interpreter.

    It only answers once, at the end, so the parent never waits for it while telling it more.
    """

    def __init__(self, prepare: Callable[[], object], take: Callable, give: Callable) -> None:
        items_r, items_w = os.pipe()
        result_r, result_w = os.pipe()
        with contextlib.suppress(OSError, AttributeError):  # not Linux, or above its limit
            fcntl.fcntl(items_w, fcntl.F_SETPIPE_SZ, HELPER_PIPE_BYTES)
        with warnings.catch_warnings():  # as for Child
            warnings.simplefilter("ignore", DeprecationWarning)
            self.pid = os.fork()
        if self.pid == 0:
            os.close(items_w)
            os.close(result_r)
            _run_helper(prepare, take, give, items_r, result_w)
        os.close(items_r)
        os.close(result_w)
        self._items = open(items_w, "wb")  # noqa: SIM115
        self._result = open(result_r, "rb")  # noqa: SIM115
        self.failed = False

    def tell(self, item: object) -> None:
        if not self.failed and not self._items.closed:
            try:
                pickle.dump((True, item), self._items, protocol=pickle.HIGHEST_PROTOCOL)
                self._items.flush()
            except OSError:  # it is gone: result() says so
                self.failed = True

    def done(self) -> None:
        """Tell it that nothing more comes: it makes its answer while this process goes on."""
        if not self._items.closed:
            self.tell(None)
            self.failed = self.failed or not _close(self._items)

    def result(self) -> object | None:
        """What it made of everything it was told; None if it failed. It then ends."""
        self.done()
        answer = None
        if not self.failed:
            try:
                ok, answer = pickle.load(self._result)
                answer = answer if ok else None
            except (OSError, pickle.UnpicklingError, EOFError, ValueError):
                pass
        self.close()
        return answer

    def close(self) -> None:
        """End it (it has answered, or the parent gives up), reap it, close the pipes."""
        _close(self._items)
        _close(self._result)
        if self.pid:
            with contextlib.suppress(ProcessLookupError, ChildProcessError):
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            self.pid = 0


def _close(f) -> bool:
    try:
        f.close()
        return True
    except OSError:
        return False


def _run_helper(prepare, take, give, items_r: int, result_w: int) -> None:
    try:
        with open(items_r, "rb") as items, open(result_w, "wb") as result:
            try:
                prepared = prepare()
                while (told := pickle.load(items))[1] is not None:
                    take(prepared, told[1])
                answer = (True, give(prepared))
            except Exception as e:  # EOFError too: the parent gave up
                answer = (False, repr(e))
            pickle.dump(answer, result, protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        os._exit(0)


def _run_child(work, result_w: int, progress_w: int) -> None:
    """Run `work` in the child, send its answer (or that it failed) and leave at once: the
    parent's exit handlers, open files and buffers are the parent's."""
    status = 1
    try:
        os.set_blocking(progress_w, False)

        def report(done: int) -> None:
            # the parent busy or gone: progress is not worth waiting for
            with contextlib.suppress(BlockingIOError, BrokenPipeError):
                os.write(progress_w, _COUNT.pack(done))

        try:
            answer = (True, work(report))
        except Exception as e:  # sent as a failure: the parent reads the stretch itself
            answer = (False, repr(e))
        data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        with open(result_w, "wb", closefd=True) as f:
            f.write(data)
        status = 0 if answer[0] else 1
    finally:
        os._exit(status)
