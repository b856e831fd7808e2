"""Counting with pandas: per-block partial counts, per-day visitor decisions, visits, top tables.

Each block adds small partial frames: request-level counts (status codes, 404 paths, bandwidth),
one row per (day, visitor key) with its request count and bot signals, and one row per candidate
pageview (a few integer codes). At the end, visitor keys that behaved like bots are dropped, visits
are cut at 30 minutes idle, and everything becomes a counts per-day frame `day, table, key, count,
visitors` that sums across runs, from which the stats dict is built.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import weakref
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analytics import memory, split
from analytics.classify import AgentLabels, ReferrerLabels
from analytics.days import day_number, iso, today
from analytics.distinct import unique_ints, values_and_codes
from shop.site import PAGE_PATHS

VISIT_GAP_SECONDS = 30 * 60
TOP = 50
COUNT_COLUMNS = ["day", "table", "key", "count", "visitors"]
# Counted from requests alone: final as soon as a block is read, so they simply add up.
REQUEST_TABLES = {"status_codes", "not_found", "_requests"}
# What each table counts, for the stats dict.
TABLE_COUNTS = {
    "pages": "pageviews",
    "entry_pages": "visits",
    "exit_pages": "visits",
    "referrers": "visits",
    "search_engines": "visits",
    "social": "visits",
    "campaigns": "visits",
    "countries": "visits",
    "browsers": "visits",
    "os": "visits",
    "devices": "visits",
    "hours": "pageviews",
    "sources": "visits",
    "conversion_sources": "conversions",
    "conversion_entry_pages": "conversions",
    "status_codes": "requests",
    "not_found": "requests",
    "bots": "requests",
}
WITH_VISITORS = {"pages", "countries", "browsers", "os", "devices"}
# Visits with a repair request, beside the visits they are a share of (same key).
CONVERSION_BASES = {"conversion_sources": "sources", "conversion_entry_pages": "entry_pages"}
DIRECT = "(direct)"  # the source of a visit without referrer or campaign
# `kind` of an event: a candidate pageview, or a repair request the handler accepted (303).
PAGEVIEW, FORM_SENT = 0, 1
EVENT_COLUMNS = [
    "day", "visitor", "ts", "hour", "path", "referrer", "campaign", "country", "agent", "kind"
]  # fmt: skip
KEY_DTYPES = {
    "day": np.int32, "visitor": np.int64, "requests": np.int64, "robots": np.bool_,
    "probe": np.bool_, "agent": np.int32,
}  # fmt: skip
KEY_COLUMNS = list(KEY_DTYPES)
CODE_COLUMNS = ["path", "referrer", "campaign", "country", "agent"]  # vocabulary codes


class Vocabulary:
    """Strings to small integer codes shared by all blocks (-1 for null)."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.values: list[str] = []
        self._known = pa.array([], pa.string())  # `values`, for Arrow's hash lookups

    def codes(self, column: pa.Array) -> np.ndarray:
        values, codes = values_and_codes(column)  # a dictionary column's distinct values
        # Arrow hashes the known values and looks the block's up in C: a block brings
        # thousands of values, of which few are new.
        found = pc.index_in(values, value_set=self._known)
        lookup = pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int32)
        new = pc.and_(pc.is_null(found), pc.is_valid(values))
        if pc.any(new).as_py():
            unseen = values.filter(new)
            added = pc.unique(unseen)  # in order of first appearance
            start = len(self.values)
            self.values.extend(added.to_pylist())
            self.ids.update(zip(self.values[start:], range(start, len(self.values)), strict=True))
            self._known = pa.concat_arrays([self._known, added.cast(pa.string())])
            at = pc.index_in(unseen, value_set=added).to_numpy(zero_copy_only=False)
            lookup[new.to_numpy(zero_copy_only=False)] = start + at
        lookup = np.append(lookup, -1)
        return lookup[codes] if len(codes) else np.zeros(0, np.int32)

    def adopt(self, values: list[str]) -> np.ndarray:
        """Codes in this vocabulary for another's `values` (new ones appended in their order),
        indexable by the other's codes, -1 included."""
        return np.append(self.codes(pa.array(values, pa.string())), -1).astype(np.int32)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        table = np.array([*self.values, None], dtype=object)
        return table[np.where(codes < 0, len(self.values), codes)]


@dataclass
class ClassifiedBlock:
    """A block's rows after anonymising and classifying: numbers and vocabulary codes only."""

    day: np.ndarray
    hour: np.ndarray
    ts: np.ndarray
    visitor: np.ndarray
    status: np.ndarray
    bytes: np.ndarray
    path: np.ndarray
    page: np.ndarray  # a pageview if a human did it
    form_sent: np.ndarray  # a POST to the form's action answered 303: a repair request
    probe: np.ndarray
    robots: np.ndarray
    agent: np.ndarray
    referrer: np.ndarray
    campaign: np.ndarray
    country: np.ndarray


@dataclass(frozen=True)
class Labels:
    """What the classifier says about the codes of the user-agent and referrer vocabularies."""

    agents: AgentLabels
    referrers: ReferrerLabels


class EventStore:
    """Candidate pageviews, one temporary file per column, read back a column at a time.

    They are the only per-request rows kept until the end (visits need a visitor's whole day),
    so they go to disk (the page cache) rather than the heap: memory stays flat in the log size.
    """

    DTYPES: ClassVar[dict] = {
        "day": np.int32, "visitor": np.int64, "ts": np.uint32, "hour": np.int8,
        "path": np.int32, "referrer": np.int32, "campaign": np.int32, "country": np.int32,
        "agent": np.int32, "kind": np.int8,
    }  # fmt: skip

    COPY_ROWS = 1 << 20  # rows of another store's column taken over at a time (flat memory)

    def __init__(self, parent: str | None = None) -> None:
        self._parent = parent  # the folder to make this store's folder in (None: the default)
        self._dir: str | None = None
        self.rows = 0

    def _path(self, column: str) -> str:
        if self._dir is None:  # made on first use, removed by close() or at exit
            self._dir = tempfile.mkdtemp(prefix="analytics-events-", dir=self._parent)
            self._own()
        return os.path.join(self._dir, column)

    def _own(self) -> None:
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._dir, True)

    def __getstate__(self) -> dict:
        """A store passes to another process by its folder, which the receiver then owns."""
        return {"_parent": self._parent, "_dir": self._dir, "rows": self.rows}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if self._dir is not None:
            self._own()

    def extend(self, other: EventStore, codes: dict[str, np.ndarray]) -> None:
        """Append another store's rows (then closed), its vocabulary codes mapped by `codes`
        (per column: this store's code at the other's code, -1 last)."""
        if other.rows:
            for column, dtype in self.DTYPES.items():
                with open(other._path(column), "rb") as src, open(self._path(column), "ab") as dst:
                    while chunk := src.read(self.COPY_ROWS * np.dtype(dtype).itemsize):
                        values = np.frombuffer(chunk, dtype)
                        if column in codes:
                            values = codes[column][values]
                        dst.write(np.ascontiguousarray(values, dtype).tobytes())
            self.rows += other.rows
        other.close()

    def append(self, columns: dict[str, np.ndarray]) -> None:
        for column, dtype in self.DTYPES.items():
            # a state saved before a column existed: its rows take 0 (kind: pageviews)
            values = columns.get(column, np.zeros(len(columns["day"]), dtype))
            with open(self._path(column), "ab") as f:
                f.write(np.ascontiguousarray(values, dtype).tobytes())
        self.rows += len(columns["day"])

    def chunks(self, name: str) -> Iterator[np.ndarray]:
        """One column, COPY_ROWS rows at a time."""
        dtype = np.dtype(self.DTYPES[name])
        for start in range(0, self.rows, self.COPY_ROWS):
            count = min(self.COPY_ROWS, self.rows - start)
            yield np.fromfile(self._path(name), dtype, count=count, offset=start * dtype.itemsize)

    def column(self, name: str) -> np.ndarray:
        """One column, whole."""
        if not self.rows:
            return np.zeros(0, self.DTYPES[name])
        return np.fromfile(self._path(name), self.DTYPES[name])

    def columns(self, names: Iterable[str], keep: np.ndarray) -> dict[str, np.ndarray]:
        """Columns' rows where `keep` is true: only the stretch of each file from the first to
        the last of them is read (a log's days lie in order), and they are found once for all."""
        at = np.flatnonzero(keep)
        if not len(at):
            return {name: np.zeros(0, self.DTYPES[name]) for name in names}
        first, end = int(at[0]), int(at[-1]) + 1
        at -= first
        found = {}
        for name in names:
            dtype = np.dtype(self.DTYPES[name])
            values = np.fromfile(
                self._path(name), dtype, count=end - first, offset=first * dtype.itemsize
            )
            found[name] = values[at]
        return found

    def close(self) -> None:
        if self._dir is not None:
            self._cleanup()
            self._dir, self.rows = None, 0


class KeyStore(EventStore):
    """Each block's visitor keys (a key's rows from several blocks are combined at the end,
    `batches()`), on disk as the events are: what reading holds stays flat in the log's size."""

    DTYPES: ClassVar[dict] = {**KEY_DTYPES, "requests": np.int32}  # a block's, or a day's

    def batches(self) -> Iterator[dict[str, np.ndarray]]:
        """One row per visitor key, a batch of whole days at a time (so that combining them,
        and what is worked out from them, holds one batch however long the log)."""
        if not self.rows:
            return
        day = self.column("day")
        for days in _day_batches(day):
            chosen = np.isin(day, days)
            yield combine_keys([self.columns(KEY_COLUMNS, chosen)])


class Aggregator:
    """Collects partial frames block by block; `pipeline.finish` turns them into per-day counts."""

    def __init__(self, folder: str | None = None) -> None:
        self.requests: Counter[tuple[int, str, int | str]] = Counter()  # (day, table, key)
        self.visitor_keys = KeyStore(folder)
        self.events = EventStore(folder)
        self.malformed_by_day: dict[int, int] = {}
        self.undated_malformed = 0

    def add_malformed(self, days: np.ndarray, undated: int = 0) -> None:
        for day, n in zip(*np.unique(days, return_counts=True), strict=True):
            self.malformed_by_day[int(day)] = self.malformed_by_day.get(int(day), 0) + int(n)
        self.undated_malformed += undated

    def add(self, b: ClassifiedBlock) -> None:
        if len(b.day) == 0:
            return
        for key, count in _request_tables(b.day, b.status, b.bytes, b.path):
            self.requests[key] += count
        self.visitor_keys.append(
            combine_keys(
                [
                    {
                        "day": b.day,
                        "visitor": b.visitor,
                        "requests": np.ones(len(b.day), np.int32),
                        "robots": b.robots,
                        "probe": b.probe,
                        "agent": b.agent,
                    }
                ]
            )
        )
        # Bots are set apart per visitor key at the end (by their user agent too), so every
        # candidate is kept: the crawler list then runs once, over all user agents at once.
        # (their rows found once: a mask would be searched again for every column)
        candidate = np.flatnonzero((b.page & ~b.probe) | b.form_sent)
        kind = np.where(b.form_sent[candidate], FORM_SENT, PAGEVIEW).astype(np.int8)
        columns = {c: getattr(b, c)[candidate] for c in EVENT_COLUMNS if c != "kind"}
        self.events.append({**columns, "kind": kind})

    def merge(self, other: Aggregator, codes: dict[str, np.ndarray]) -> None:
        """Take over what another aggregator (of the lines after this one's) collected; `codes`
        maps its vocabulary codes to this one's (`Vocabulary.adopt`), by vocabulary name."""
        for (day, table, key), count in other.requests.items():
            if table == "not_found":
                key = int(codes["path"][key])
            self.requests[(day, table, key)] += count
        self.visitor_keys.extend(other.visitor_keys, {"agent": codes["agent"]})
        for day, n in other.malformed_by_day.items():
            self.malformed_by_day[day] = self.malformed_by_day.get(day, 0) + n
        self.undated_malformed += other.undated_malformed
        self.events.extend(other.events, {c: codes[c] for c in CODE_COLUMNS})

    def request_counts(self, paths: Vocabulary) -> pd.DataFrame:
        """Request-level tables (status codes, 404 paths, daily totals) as counts rows."""
        rows = [
            (day, table, paths.values[key] if table == "not_found" else str(key), count)
            for (day, table, key), count in self.requests.items()
        ]
        rows += [(day, "_requests", "malformed", n) for day, n in self.malformed_by_day.items()]
        frame = pd.DataFrame(rows, columns=["day", "table", "key", "count"])
        return _as_counts(frame.assign(visitors=0))


def _request_tables(
    day: np.ndarray, status: np.ndarray, size: np.ndarray, path: np.ndarray
) -> Iterator[tuple[tuple[int, str, int | str], int]]:
    """A block's status codes, 404 paths (as path codes) and per-day totals, as
    ((day, table, key), count): bincounts over a few integer columns, a few hundred results."""
    first = int(day.min())
    offset = day.astype(np.int64) - first
    codes, n = unique_ints(offset * 1000 + status, counts=True)
    for code, count in zip(codes.tolist(), n.tolist(), strict=True):
        yield (first + code // 1000, "status_codes", code % 1000), count
    missing = status == 404
    if missing.any():
        width = int(path.max()) + 2  # codes shifted by one: -1 (no path) is left out below
        codes, n = unique_ints(offset[missing] * width + path[missing] + 1, counts=True)
        for code, count in zip(codes.tolist(), n.tolist(), strict=True):
            if code % width:
                yield (first + code // width, "not_found", code % width - 1), count
    days = int(offset.max()) + 1
    totals = {
        "requests": np.bincount(offset, minlength=days),
        "bandwidth": np.bincount(offset, weights=size, minlength=days),
        "not_found": np.bincount(offset, weights=missing, minlength=days),
    }
    for key, per_day in totals.items():
        for d in np.flatnonzero(totals["requests"]).tolist():
            yield (first + d, "_requests", key), int(per_day[d])


def combine_keys(parts: list[dict]) -> dict[str, np.ndarray]:
    """One row per visitor key (a key belongs to one day) from partial rows."""
    if not parts:
        return {c: np.zeros(0, t) for c, t in KEY_DTYPES.items()}
    visitor = np.concatenate([p["visitor"] for p in parts])
    inverse, unique = pd.factorize(visitor)  # hashing: no sort of a million keys
    del visitor
    # All of a key's rows share its day and user agent (the key hashes them): any row will do.
    first = np.empty(len(unique), np.int64)
    first[inverse] = np.arange(len(inverse))

    def column(name):
        return np.concatenate([np.asarray(p[name]) for p in parts])

    return {
        "day": column("day")[first].astype(np.int32),
        "visitor": unique,
        "requests": np.bincount(inverse, column("requests"), len(unique)).astype(np.int64),
        "robots": np.bincount(inverse, column("robots"), len(unique)) > 0,
        "probe": np.bincount(inverse, column("probe"), len(unique)) > 0,
        "agent": column("agent")[first].astype(np.int32),
    }


def visitor_counts(
    bots: dict[str, np.ndarray],
    events: EventStore,
    names: dict[str, Vocabulary],
    labels: Labels,
) -> pd.DataFrame:
    """Per-day tables that need the whole day of each visitor: bots, pageviews, visits, sources.

    `bots`: the visitor keys found to be bots, with their day, requests and why (`reason`).
    """
    frame = pd.DataFrame({"day": bots["day"], "requests": bots["requests"], "bot": bots["reason"]})
    by_bot = frame.groupby(["day", "bot"])["requests"].sum()
    by_day = frame.groupby("day")["requests"].sum()
    out = [
        _table_rows(
            by_bot.index.get_level_values(0), "bots", by_bot.index.get_level_values(1), by_bot
        ),
        _day_rows(by_day.index, "bots", by_day),
    ]
    # Visitor keys come from a different random key every day, so the key alone is enough.
    bot_keys = pd.Index(bots["visitor"])  # a hash table: no sort of every event
    # The pageviews shared among processes, one per core, each person's counted by one (their
    # tables' rows are then added up): by runs of days where the days allow it, else by key.
    parts = min(split.processes(), split.MAX_PROCESSES) if events.rows >= SHARED_ROWS else 1
    # a byte of each person's key (uniform: the keys are hashes) picks their share, and their
    # piece of a day too big for one batch; -1: a bot's
    low = np.concatenate(
        [np.zeros(0, np.int16)]
        + [
            np.where(bot_keys.get_indexer(v) < 0, v & 0xFF, -1).astype(np.int16)
            for v in events.chunks("visitor")
        ]
    )
    day = events.column("day")
    share = _day_shares(day, np.where(low >= 0, low % parts, -1).astype(np.int8), parts)
    bucket = low // parts

    def tables(part: int) -> list[dict]:
        # One batch at a time, what the last one freed handed back first: a process's peak is
        # one batch's, however many came before and however busy a day.
        mine = share == part
        found = []
        for days, pieces, piece in _view_batches(day[mine]):
            memory.hand_back()
            chosen = mine & np.isin(day, days)
            if pieces > 1:
                chosen &= bucket % pieces == piece
            columns = events.columns(EVENT_COLUMNS, chosen)
            found.extend(_pageview_tables(columns, names, labels))
        return found

    # a process of its own each (threads would share one heap: its peak would grow with the log)
    for found in split.in_parallel(tables, list(range(parts))):
        out.extend(found)
    return _as_counts(_frame(out))


DAY_BATCH_ROWS = 250_000
SHARED_ROWS = 100_000  # fewer pageviews are counted sooner than a process is forked


def _day_shares(day: np.ndarray, by_key: np.ndarray, parts: int) -> np.ndarray:
    """Each row's share (-1 where `by_key` has it) as runs of whole days of about as many rows:
    a run's tables cover fewer days than a share of every day's visitors (a third less work).
    `by_key` itself when the days cannot be cut so (fewer days than shares, one day of most)."""
    counted = by_key >= 0
    days, rows = unique_ints(day[counted], counts=True)
    total = int(rows.sum())
    if parts < 2 or not total:
        return by_key
    cuts = np.searchsorted(np.cumsum(rows), total * np.arange(1, parts) / parts) + 1
    cuts = np.unique(cuts[(cuts > 0) & (cuts < len(days))])
    if len(cuts) < parts - 1 or np.add.reduceat(rows, [0, *cuts]).max() > 1.5 * total / parts:
        return by_key
    run = np.searchsorted(days[cuts], day, side="right")
    return np.where(counted, run, -1).astype(np.int8)


def _day_batches(day: np.ndarray) -> list[list[int]]:
    """Whole days in groups of about DAY_BATCH_ROWS rows (pageviews, visitor keys), in order:
    the temporaries of what is worked out per day stay small."""
    return [days for days, _ in _grouped_days(day)]


def _view_batches(day: np.ndarray) -> list[tuple[list[int], int, int]]:
    """`_day_batches` of pageviews, a day with more than DAY_BATCH_ROWS of them in as many
    pieces of its visitors as it takes: (days, pieces, piece), the piece a visitor's bucket
    modulo pieces."""
    found = []
    for days, rows in _grouped_days(day):
        pieces = -(-rows // DAY_BATCH_ROWS)  # only a day alone can have more rows than that
        found.extend((days, pieces, piece) for piece in range(pieces))
    return found


def _grouped_days(day: np.ndarray) -> list[tuple[list[int], int]]:
    """Whole days in groups of about DAY_BATCH_ROWS rows, in order, with their rows."""
    days, counts = unique_ints(day, counts=True)
    groups, current, size = [], [], 0
    for d, n in zip(days.tolist(), counts.tolist(), strict=True):
        if current and size + n > DAY_BATCH_ROWS:
            groups.append((current, size))
            current, size = [], 0
        current.append(d)
        size += n
    return [*groups, (current, size)] if current else groups


def _pageview_tables(ev: dict, names: dict[str, Vocabulary], labels: Labels) -> list[dict]:
    """Visits (30 minutes idle ends one) and every pageview-based table, with numpy and codes."""
    sent = ev.pop("kind") == FORM_SENT
    posts = {c: ev[c][sent] for c in ("visitor", "ts")}
    views = _sorted_views({c: v[~sent] for c, v in ev.items()})
    if views is None:  # only requests whose visit is not in the logs: nothing to count
        return []
    visits = _visits(views, names, posts)
    days = unique_ints(views["day"])
    vid_day = views["day"][views["new_visitor"]]
    decode_path = names["path"].decode
    out = [
        _day_rows(days, "pageviews", _per_day(views["day"], days)),
        _day_rows(days, "visitors", _per_day(vid_day, days)),
        _day_rows(days, "visits", _per_day(visits["day"], days)),
        _day_rows(days, "bounces", _per_day(visits["day"], days, visits["pages"] == 1)),
        _day_rows(days, "visit_seconds", _per_day(visits["day"], days, visits["seconds"])),
        _counted(views, "path", "pages", decode_path, vid_day),
        _counted(visits, "entry", "entry_pages", decode_path),
        _counted(visits, "exit", "exit_pages", decode_path),
        _counted(visits, "campaign", "campaigns", names["campaign"].decode),
        _counted(
            visits, "country", "countries", names["country"].decode, vid_day, per_visitor=True
        ),
        _counted(views, "hour", "hours", lambda h: np.array([f"{int(x):02d}" for x in h], object)),
    ]
    agent, referrer = labels.agents, labels.referrers
    visits["agent"] = np.where(visits["agent"] < 0, len(agent.browser) - 1, visits["agent"])
    for table, label in (("browsers", agent.browser), ("os", agent.os), ("devices", agent.device)):
        out.append(_counted(visits, "agent", table, label.__getitem__, vid_day, per_visitor=True))
    for table, label in (
        ("referrers", referrer.host),
        ("search_engines", referrer.search_engine),
        ("social", referrer.social),
    ):
        out.append(_counted(visits, "referrer", table, lambda c, lab=label: lab[c]))
    out.extend(_conversion_tables(visits, days, names, referrer))
    return out


def _sorted_views(ev: dict) -> dict | None:
    """Pageviews grouped by visitor key (a key is one visitor's day) and in time order within
    each, each visitor numbered (`vid`, for distinct counts) and `new_visitor` marking the first
    view of each; None when there are none."""
    if not len(ev["day"]):
        return None
    # One int64 to sort by: the key's number (in order of appearance) above 32 bits of seconds.
    number, _ = pd.factorize(ev["visitor"])
    seconds = ev["ts"].astype(np.int64)
    order = np.argsort(number.astype(np.int64) << 32 | seconds - seconds.min(), kind="stable")
    views = {c: v[order] for c, v in ev.items()}
    views["ts"] = views["ts"].astype(np.int64)
    new_visitor = np.ones(len(order), bool)  # keys are per day, so also another day
    new_visitor[1:] = views["visitor"][1:] != views["visitor"][:-1]
    views["new_visitor"] = new_visitor
    views["vid"] = np.cumsum(new_visitor) - 1
    return views


def _visits(views: dict, names: dict[str, Vocabulary], posts: dict) -> dict:
    """One row per visit: a visitor's views with no gap over VISIT_GAP_SECONDS, its entry and exit,
    length, whether it saw the repair form and how many repair requests it sent."""
    n = len(views["day"])
    new = views["new_visitor"].copy()
    new[1:] |= views["ts"][1:] - views["ts"][:-1] > VISIT_GAP_SECONDS
    first = np.flatnonzero(new)
    last = np.append(first[1:] - 1, n - 1)
    visits = {
        "day": views["day"][first],
        "vid": views["vid"][first],
        "new_visitor": views["new_visitor"][first],
        "entry": views["path"][first],
        "exit": views["path"][last],
        "referrer": views["referrer"][first],
        "campaign": views["campaign"][first],
        "country": views["country"][first],
        "agent": views["agent"][first],
        "pages": last - first + 1,
        "seconds": views["ts"][last] - views["ts"][first],
    }
    visit_of_view = np.cumsum(new) - 1
    form_pages = [names["path"].ids.get(p) for p in PAGE_PATHS["repair"].values()]
    saw_form = np.isin(views["path"], [c for c in form_pages if c is not None])
    visits["saw_form"] = np.bincount(visit_of_view[saw_form], minlength=len(first)) > 0
    visits["requests"] = _requests_per_visit(
        views["visitor"][first], views["ts"][first], posts["visitor"], posts["ts"].astype(np.int64)
    )
    return visits


def _requests_per_visit(visit_visitor, visit_start, post_visitor, post_ts) -> np.ndarray:
    """Repair requests sent in each visit (visits grouped by visitor key, by start within each).

    A request belongs to its visitor's last visit that started before it (keys are per day, so
    the key alone says whose it is), or to the first one if it came before any pageview (the
    handler's host keeps its own clock). A request with no visit of that key is not counted.
    """
    counts = np.zeros(len(visit_visitor), np.int64)
    if not len(post_visitor):
        return counts
    new = np.ones(len(visit_visitor), bool)
    new[1:] = visit_visitor[1:] != visit_visitor[:-1]
    rank = np.cumsum(new) - 1  # the visitor's number
    post_rank = pd.Index(visit_visitor[new]).get_indexer(post_visitor)
    known = post_rank >= 0
    # One number per (visitor, time), in the visits' order already: the rank above 32 bits of
    # seconds.
    ordered = (rank.astype(np.int64) << 32) | visit_start
    post_rank = post_rank[known].astype(np.int64)
    i = np.searchsorted(ordered, (post_rank << 32) | post_ts[known], side="right") - 1
    before_any = (i < 0) | (rank[np.maximum(i, 0)] != post_rank)
    np.add.at(counts, np.where(before_any, i + 1, i), 1)
    return counts


def _conversion_tables(
    visits: dict, days: np.ndarray, names: dict[str, Vocabulary], referrer: ReferrerLabels
) -> list[dict]:
    """The funnel per day (visits that saw the form, that sent it) and requests per source."""
    sent = visits["requests"] > 0
    # A visit's source: its campaign, else its referrer's group name, else direct; one label
    # code per distinct campaign and referrer, so the visits themselves stay numbers.
    labels: dict[str, int] = {}
    by_referrer = [labels.setdefault(s or DIRECT, len(labels)) for s in referrer.source]
    by_campaign = [labels.setdefault(c, len(labels)) for c in names["campaign"].values] + [-1]
    campaign = visits["campaign"]
    source = np.where(
        campaign >= 0,
        np.asarray(by_campaign)[campaign],
        np.asarray(by_referrer)[visits["referrer"]],
    )
    by_source = {"day": visits["day"], "source": source}
    by_entry = {"day": visits["day"], "entry": visits["entry"]}
    label = np.array(list(labels), dtype=object)
    return [
        _day_rows(days, "form_visits", _per_day(visits["day"], days, visits["saw_form"] | sent)),
        _day_rows(days, "conversions", _per_day(visits["day"], days, sent)),
        _day_rows(days, "conversion_requests", _per_day(visits["day"], days, visits["requests"])),
        _counted(by_source, "source", "sources", lambda c: label[c]),
        _counted(_only(by_source, sent), "source", "conversion_sources", lambda c: label[c]),
        _counted(_only(by_entry, sent), "entry", "conversion_entry_pages", names["path"].decode),
    ]


def _only(rows: dict, keep: np.ndarray) -> dict:
    return {c: v[keep] for c, v in rows.items()}


def _per_day(day: np.ndarray, days: np.ndarray, weights=None) -> np.ndarray:
    """Sum of `weights` (or rows) per day, aligned with the sorted `days`."""
    return np.bincount(np.searchsorted(days, day), weights=weights, minlength=len(days))


def _counted(
    rows: dict, column: str, table: str, decode, vid_day=None, per_visitor: bool = False
) -> dict:
    """Rows per (day, label), and distinct visitors when `vid_day` (day of each visitor, rows in
    the order of their visitor number `vid`) is given.

    Codes become labels first (once per distinct code); codes sharing a label (browser family,
    search engine) add up; a code whose label is None is not counted. `per_visitor`: the column
    is the same in all of a visitor's rows (a visitor key is one address and user agent), so
    its first visit (`new_visitor`) counts it.
    """
    code = rows[column].astype(np.int64)
    if not len(code):
        return _table_rows(np.zeros(0, np.int64), table, np.zeros(0, object), np.zeros(0, np.int64))
    low = int(code.min())
    present = unique_ints(code)
    label_ids, names = pd.factorize(np.asarray(decode(present), dtype=object))
    label_of = np.full(int(code.max()) - low + 1, -1, np.int64)
    label_of[present - low] = label_ids
    label = label_of[code - low]
    counted = label >= 0
    label, day = label[counted], rows["day"].astype(np.int64)[counted]
    width = len(names)
    first = int(day.min()) if len(day) else 0
    size = (int(day.max()) - first + 1) * width if len(day) else 0
    tally = {"count": np.bincount((day - first) * width + label, minlength=size)}
    if per_visitor:
        first_visit = rows["new_visitor"][counted]
        at_first = (day[first_visit] - first) * width + label[first_visit]
        tally["visitors"] = np.bincount(at_first, minlength=size)
    elif vid_day is not None:
        # Distinct (visitor, label) pairs: rows come in visitor order, so a stable sort by
        # label (a radix sort of small integers) leaves each pair's rows side by side.
        vid = rows["vid"][counted]
        order = np.argsort(label.astype(np.int16 if width < 2**15 else np.int32), kind="stable")
        label_sorted, vid_sorted = label[order], vid[order]
        new_pair = np.ones(len(order), bool)
        new_pair[1:] = (label_sorted[1:] != label_sorted[:-1]) | (vid_sorted[1:] != vid_sorted[:-1])
        day_of_pair = vid_day[vid_sorted[new_pair]].astype(np.int64)
        per = (day_of_pair - first) * width + label_sorted[new_pair]
        tally["visitors"] = np.bincount(per, minlength=size)
    at = np.flatnonzero(tally["count"])
    visitors = tally["visitors"][at] if "visitors" in tally else None
    keys = np.asarray(names, dtype=object)[at % width]
    return _table_rows(at // width + first, table, keys, tally["count"][at], visitors)


def _table_rows(day, table: str, key, count, visitors=None) -> dict:
    """Counts rows of one table, as columns (a frame is made once, of all of them)."""
    count = np.asarray(count, np.int64)
    return {
        "day": np.asarray(day, np.int64),
        "table": np.full(len(count), table, object),
        "key": np.asarray(key, object),
        "count": count,
        "visitors": np.zeros(len(count), np.int64) if visitors is None else visitors,
    }


def _day_rows(days, name: str, per_day) -> dict:
    """Per-day totals (table `_visits`, key `name`), `per_day` aligned with `days`."""
    return _table_rows(days, "_visits", np.full(len(days), name, object), per_day)


def _frame(parts: list[dict]) -> pd.DataFrame:
    return pd.DataFrame({c: np.concatenate([p[c] for p in parts]) for c in COUNT_COLUMNS})


def _as_counts(frame: pd.DataFrame) -> pd.DataFrame:
    if "visitors" not in frame:
        frame = frame.assign(visitors=0)
    frame = frame[COUNT_COLUMNS].copy()
    frame["visitors"] = frame["visitors"].fillna(0).astype("int64")
    frame["count"] = frame["count"].astype("int64")
    frame["day"] = frame["day"].astype("int64")
    frame["key"] = frame["key"].astype(str)
    return frame


def merge_counts(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Sum counts frames from several runs or blocks."""
    frames = [f for f in frames if f is not None and len(f)]
    if not frames:
        return pd.DataFrame(
            {c: pd.Series(dtype="int64" if c != "table" else object) for c in COUNT_COLUMNS}
        )
    merged = pd.concat(frames, ignore_index=True)
    return merged.groupby(["day", "table", "key"], as_index=False)[["count", "visitors"]].sum()


def report_period(
    counts: pd.DataFrame,
    since: dt.date | None = None,
    until: dt.date | None = None,
    window_days: int | None = None,
) -> tuple[int | None, int | None]:
    """Days to report: since/until, else every day counted, or with `window_days` (--state:
    shop.toml's anonymised_log_retention_days, as long as the lines are kept) the last ones."""
    days = counts["day"]
    end = day_number(until) if until else (int(days.max()) if len(days) else None)
    if since:
        start = day_number(since)
    elif window_days is not None and end is not None:
        start = max(int(days.min()), end - window_days + 1)
    else:
        start = int(days.min()) if len(days) else None
    if start is not None and end is None:
        end = start
    return start, end


def build_stats(
    counts: pd.DataFrame,
    *,
    settings: dict,
    start: int | None = None,
    end: int | None = None,
    undated_malformed: int = 0,
) -> dict:
    """The stats dict (= stats.json) for days start..end of a counts frame (all days by default)."""
    days = counts["day"]
    if start is None:
        start = int(days.min()) if len(days) else today()
    if end is None:
        end = int(days.max()) if len(days) else start
    period = counts[(days >= start) & (days <= end)]
    totals = _day_totals(period, start, end)
    sums = totals.sum()
    visits = int(sums["visits"])
    stats = {
        "generated": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "period": {"start": iso(start), "end": iso(end), "days": end - start + 1},
        "settings": settings,
        "requests": int(sums["requests"]),
        "malformed": int(sums["malformed"]) + undated_malformed,
        "bots": int(sums["bots"]),
        "pageviews": int(sums["pageviews"]),
        "visitors": int(sums["visitors"]),
        "visits": visits,
        "bounce_rate": round(float(sums["bounces"]) / visits, 4) if visits else 0.0,
        "pages_per_visit": round(float(sums["pageviews"]) / visits, 2) if visits else 0.0,
        "avg_visit_seconds": round(float(sums["visit_seconds"]) / visits, 1) if visits else 0.0,
        "bandwidth": int(sums["bandwidth"]),
        "not_found": int(sums["not_found"]),
        "form_visits": int(sums["form_visits"]),
        "conversions": int(sums["conversions"]),
        "conversion_rate": round(float(sums["conversions"]) / visits, 4) if visits else 0.0,
        "conversion_requests": int(sums["conversion_requests"]),
    }
    stats.update(
        total_requests=stats["requests"] + stats["malformed"],
        valid_requests=stats["requests"],
        failed_requests=stats["malformed"],
        unique_visitors=stats["visitors"],
    )
    stats["daily"] = [
        {
            "date": iso(day),
            "requests": int(row["requests"]),
            "pageviews": int(row["pageviews"]),
            "visitors": int(row["visitors"]),
            "visits": int(row["visits"]),
            "bots": int(row["bots"]),
            "conversions": int(row["conversions"]),
        }
        for day, row in totals.iterrows()
    ]
    stats["monthly"] = _monthly(totals)
    stats["previous"] = _previous(counts, start, end)
    stats["tables"] = _tables(period)
    return stats


TOTAL_KEYS = (
    "requests", "malformed", "bandwidth", "not_found",
    "bots", "pageviews", "visitors", "visits", "bounces", "visit_seconds",
    "form_visits", "conversions", "conversion_requests",
)  # fmt: skip


def _day_totals(period: pd.DataFrame, start: int, end: int) -> pd.DataFrame:
    rows = period[period["table"].isin(["_requests", "_visits"])]
    wide = rows.pivot_table(index="day", columns="key", values="count", aggfunc="sum")
    wide = wide.reindex(index=range(start, end + 1), columns=list(TOTAL_KEYS), fill_value=0)
    return wide.fillna(0).astype("int64")


def _monthly(totals: pd.DataFrame) -> list[dict]:
    months = [iso(d)[:7] for d in totals.index]
    grouped = totals.groupby(months)[["pageviews", "visitors", "visits"]].sum()
    return [{"month": m, **{k: int(v) for k, v in row.items()}} for m, row in grouped.iterrows()]


def _previous(counts: pd.DataFrame, start: int, end: int) -> dict | None:
    length = end - start + 1
    p_start, p_end = start - length, start - 1
    days = counts["day"]
    before = counts[(days >= p_start) & (days <= p_end)]
    if not len(before):
        return None
    sums = _day_totals(before, p_start, p_end).sum()
    return {
        "start": iso(p_start),
        "end": iso(p_end),
        "pageviews": int(sums["pageviews"]),
        "visitors": int(sums["visitors"]),
        "visits": int(sums["visits"]),
        "conversions": int(sums["conversions"]),
    }


def _tables(period: pd.DataFrame) -> dict:
    # one grouping for all tables, then each table's rows: not a pass over the period per table
    summed = period.groupby(["table", "key"])[["count", "visitors"]].sum()
    per_table = {name: rows.droplevel(0) for name, rows in summed.groupby(level=0)}
    empty = summed.iloc[:0].droplevel(0)
    tables = {}
    for name, counts in TABLE_COUNTS.items():
        grouped = per_table.get(name, empty)
        if name == "hours":
            hours = [f"{h:02d}" for h in range(24)]
            grouped = grouped.reindex(hours, fill_value=0)
        else:
            grouped = grouped.sort_index().sort_values("count", ascending=False, kind="stable")
            grouped = grouped.head(TOP)
        rows = zip(
            grouped.index, grouped["count"].tolist(), grouped["visitors"].tolist(), strict=True
        )
        if name in WITH_VISITORS:
            result = [{"key": str(k), "count": c, "visitors": v} for k, c, v in rows]
        else:
            result = [{"key": str(k), "count": c} for k, c, _ in rows]
        tables[name] = {"counts": counts, "rows": result}
    for name, base in CONVERSION_BASES.items():
        rows = per_table.get(base, empty)["count"]
        for item in tables[name]["rows"]:
            item["visits"] = int(rows.get(item["key"], 0))
    return tables
