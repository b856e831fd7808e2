"""A large log read in stretches by forked processes counts exactly as one reader does."""

from __future__ import annotations

import gzip
import io
import os
import random
import signal
import threading
import time

import numpy as np
import pandas as pd
import pytest

from analytics import aggregate, analyse, classify, count_days, pipeline, split
from analytics.read import Source
from analytics.sample import generate_log


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """A busy site's log in two files, with malformed lines and odd ones here and there."""
    folder = tmp_path_factory.mktemp("split")
    buffer = io.StringIO()
    generate_log(buffer, 12_000, seed=5, varied=True, ipv6_share=0.3, xff=True, days=3)
    lines = buffer.getvalue().splitlines(keepends=True)
    rng = random.Random(5)
    for at in sorted(rng.sample(range(len(lines)), 40), reverse=True):
        lines.insert(at, rng.choice(["garbage\n", "\n", '192.0.2.1 - - [bad] "GET /"\n']))
    half = len(lines) // 2
    first, second = folder / "access.log.1", folder / "access.log"
    first.write_text("".join(lines[:half]))
    second.write_text("".join(lines[half:]))
    return [first, second]


def read(paths, monkeypatch, parts: int):
    """count_days over `paths` in `parts` stretches: counts, anonymised lines, malformed lines
    and bytes reported as read."""
    monkeypatch.setattr(split, "MIN_PART_BYTES", 1)
    monkeypatch.setattr(split, "processes", lambda: parts)
    anonymised, malformed, progress = io.BytesIO(), [], []
    counts = count_days(
        paths,
        anonymised_out=anonymised,
        on_malformed=lambda name, line: malformed.append((name, line)),
        on_progress=progress.append,
    )
    return counts, anonymised.getvalue(), malformed, sum(progress)


@pytest.fixture(scope="module")
def one_reader(logs):
    with pytest.MonkeyPatch.context() as monkeypatch:
        return read(logs, monkeypatch, 1)


def assert_same(got, expected) -> None:
    counts, anonymised, malformed, progress = got
    pd.testing.assert_frame_equal(counts.frame, expected[0].frame)
    assert (counts.lines, counts.malformed, counts.errors) == (
        expected[0].lines, expected[0].malformed, expected[0].errors
    )  # fmt: skip
    assert anonymised == expected[1]  # the same lines in the same order
    assert malformed == expected[2]
    assert progress == expected[3]


@pytest.mark.parametrize("parts", [2, 3, 4])
def test_stretches_count_as_one_reader(logs, one_reader, monkeypatch, parts):
    assert_same(read(logs, monkeypatch, parts), one_reader)
    plan = split.plan([Source(str(p), p) for p in logs])
    assert len(plan) == parts  # really cut, and in the middle of the files
    assert any(segment.start > 0 for part in plan for segment in part)
    assert one_reader[0].malformed >= 40 and one_reader[3] == sum(p.stat().st_size for p in logs)


def test_the_report_is_the_same(logs, monkeypatch):
    monkeypatch.setattr(split, "MIN_PART_BYTES", 1)
    monkeypatch.setattr(split, "processes", lambda: 1)
    single = analyse(logs)
    monkeypatch.setattr(split, "processes", lambda: 3)
    split_stats = analyse(logs)
    single.pop("generated"), split_stats.pop("generated")
    assert split_stats == single
    assert single["visitors"] > 100


@pytest.mark.parametrize("failure", ["killed", "raises"])
def test_a_failed_child_leaves_its_stretch_to_the_parent(logs, one_reader, monkeypatch, failure):
    """A child that dies (kill -9) or fails: nothing is lost, nothing counted twice."""
    read_part = pipeline.Pipeline._read_part
    calls = []

    def failing(self, segments, work, report):
        calls.append(segments)  # seen by the child only: fork copies the list
        read_part(self, segments[:1], work, report)  # halfway through its work
        if failure == "killed":
            os.kill(os.getpid(), signal.SIGKILL)
        raise OSError("disk full")

    monkeypatch.setattr(pipeline.Pipeline, "_read_part", failing)
    assert_same(read(logs, monkeypatch, 3), one_reader)
    assert not calls  # the parent never ran a child's part through a child's code


def test_in_parallel_answers_in_order_and_redoes_what_a_child_failed():
    parent = os.getpid()

    def work(n):
        if n == 3 and os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return None if n == 2 else (n * n, os.getpid())

    answers = split.in_parallel(work, [1, 2, 3, 4])
    assert [a and a[0] for a in answers] == [1, None, 9, 16]  # None is an answer, not a failure
    assert answers[0][1] == parent and answers[3][1] != parent
    assert answers[2][1] == parent  # the killed child's item, done again here


@pytest.mark.parametrize(
    ("processes", "failure"),
    [(2, None), (4, None), (2, "raises"), (4, "killed")],  # 3 days
)
def test_pageviews_counted_by_several_processes(logs, monkeypatch, processes, failure):
    """The pageview tables of a share of the visitors per core (by runs of days, or by key where
    the days cannot be cut evenly): the same report as one process's, and a child that fails
    leaves its share to the parent."""
    monkeypatch.setattr(split, "processes", lambda: 1)
    single = analyse(logs)
    parent, forks = os.getpid(), []
    child_init = split.Child.__init__

    def counted_child(self, work):
        forks.append(work)
        child_init(self, work)

    tables = aggregate._pageview_tables

    def failing_tables(*args):
        if failure and os.getpid() != parent:
            if failure == "killed":
                os.kill(os.getpid(), signal.SIGKILL)
            raise MemoryError
        return tables(*args)

    monkeypatch.setattr(split.Child, "__init__", counted_child)
    monkeypatch.setattr(aggregate, "_pageview_tables", failing_tables)
    monkeypatch.setattr(split, "processes", lambda: processes)
    monkeypatch.setattr(aggregate, "SHARED_ROWS", 0)
    shared = analyse(logs)  # the logs are small: read by one process, only counted by several
    single.pop("generated"), shared.pop("generated")
    assert shared == single
    assert len(forks) == processes - 1


def test_pageviews_shared_by_runs_of_days_or_else_by_visitor_key():
    day = np.repeat(np.arange(20000, 20007, dtype=np.int32), [50, 60, 55, 40, 58, 52, 50])
    by_key = (np.arange(len(day)) % 2).astype(np.int8)
    by_key[::10] = -1  # bots
    share = aggregate._day_shares(day, by_key, 2)
    assert (share[by_key < 0] == -1).all()
    assert set(day[share == 0]) == set(range(20000, 20004)) and (day[share == 1] >= 20004).all()
    one_day = np.full(len(day), 20000, np.int32)
    assert (aggregate._day_shares(one_day, by_key, 2) == by_key).all()
    lopsided = np.where(np.arange(len(day)) < 300, 20000, 20001).astype(np.int32)
    assert (aggregate._day_shares(lopsided, by_key, 2) == by_key).all()
    no_people = np.full(len(day), -1, np.int8)
    assert (aggregate._day_shares(day, no_people, 2) == -1).all()


def test_compressed_or_small_logs_are_read_whole(logs, tmp_path, monkeypatch):
    packed = tmp_path / "access.log.2.gz"
    packed.write_bytes(gzip.compress(logs[0].read_bytes()))
    monkeypatch.setattr(split, "processes", lambda: 4)
    sources = [Source(str(p), p) for p in (packed, logs[1])]
    assert len(split.plan(sources)) == 1
    monkeypatch.setattr(split, "MIN_PART_BYTES", 1 << 40)
    assert len(split.plan([Source(str(logs[1]), logs[1])])) == 1


def test_cuts_fall_on_line_starts_and_cover_every_byte(tmp_path, monkeypatch):
    rng = random.Random(1)
    monkeypatch.setattr(split, "MIN_PART_BYTES", 1)
    for trial in range(60):
        paths = []
        for i in range(rng.randint(1, 3)):
            lines = [
                b"x" * rng.choice([0, 1, 5, 300, 70_000]) + b"\n" for _ in range(rng.randint(0, 40))
            ]
            if lines and rng.random() < 0.3:
                lines[-1] = lines[-1].rstrip(b"\n")  # a last line without its newline
            path = tmp_path / f"{trial}-{i}.log"
            path.write_bytes(b"".join(lines))
            paths.append(path)
        data = {p: p.read_bytes() for p in paths}
        sources = [Source(str(p), p) for p in paths]
        parts = split.plan(sources, rng.randint(2, 6))
        pieces = []
        for segment in (s for part in parts for s in part):
            whole = data[segment.source.path]
            assert segment.start == 0 or whole[segment.start - 1 : segment.start] == b"\n"
            pieces.append((segment.source.path, whole[segment.start : segment.end]))
        for path in paths:  # each file's stretches, in order, are the file
            assert b"".join(piece for p, piece in pieces if p == path) == data[path]
        assert [p for p, _ in pieces] == sorted((p for p, _ in pieces), key=paths.index)


@pytest.mark.parametrize("failure", ["killed", "raises"])
def test_a_failed_agent_parser_leaves_the_parsing_to_the_parent(
    logs, one_reader, monkeypatch, failure
):
    """The helper that parses the user agents dies or fails: the parent parses them itself."""

    def failing(classifier, agents):
        if failure == "killed":
            os.kill(os.getpid(), signal.SIGKILL)
        raise MemoryError

    monkeypatch.setattr(classify.AgentClassifier, "take", failing)
    assert_same(read(logs, monkeypatch, 2), one_reader)


def test_a_helper_told_it_is_done_answers_for_what_came_before():
    """The parent says it is done as soon as the last user agents are known, and reads the
    answer later: what it tells afterwards is not taken (the parent labels those itself)."""
    helper = split.Helper(list, list.append, list)
    helper.tell("a")
    helper.tell("b")
    helper.done()
    helper.tell("c")
    helper.done()
    assert helper.result() == ["a", "b"]


def test_telling_a_helper_still_preparing_does_not_wait_for_it(tmp_path):
    """A busy site's user agents (some 600 KB) are told while the helper still builds its
    parser: the reader goes on at once instead of waiting for the helper to take them."""
    ready = tmp_path / "ready"

    def prepare() -> list:
        while not ready.exists():  # only once the parent has told it everything
            time.sleep(0.01)
        return []

    helper = split.Helper(prepare, list.append, lambda taken: [len(item) for item in taken])
    telling = threading.Thread(target=lambda: [helper.tell("x" * 200_000) for _ in range(3)])
    telling.start()
    telling.join(timeout=10)
    told_at_once = not telling.is_alive()
    ready.touch()  # (else the helper would never read, and the test never end)
    assert told_at_once
    assert helper.result() == [200_000] * 3


def test_a_log_gone_before_it_is_cut_is_reported_not_a_crash(tmp_path, monkeypatch):
    """Rotated away between being named and being read: an error for it, the rest counted."""
    monkeypatch.setattr(split, "MIN_PART_BYTES", 1)
    monkeypatch.setattr(split, "processes", lambda: 2)
    gone = tmp_path / "gone.log"
    kept = tmp_path / "access.log"
    kept.write_text(open_sample_lines(200))
    sources = [Source(str(gone), gone), Source(str(kept), kept)]
    assert split.plan(sources) == [[split.Segment(s) for s in sources]]
    errors = []
    counts = count_days([kept, gone], on_error=errors.append)
    assert counts.lines == 200 and any("gone.log" in e for e in errors)


def open_sample_lines(n: int) -> str:
    buffer = io.StringIO()
    generate_log(buffer, n, seed=1)
    return buffer.getvalue()
