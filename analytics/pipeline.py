"""read → anonymise → classify → aggregate, block by block: one pass over the logs.

A large log is read in stretches by one process per core (analytics.split), each doing a block
at a time; read by one process, the next blocks are parsed in worker threads while the current
one is anonymised, classified and counted (pyarrow's kernels release the GIL). Memory stays flat:
a few blocks in flight plus small per-block partial counts.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import os
import shutil
import tempfile
import threading
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import IO, TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analytics import classify, memory, split
from analytics.aggregate import (
    EVENT_COLUMNS,
    Aggregator,
    ClassifiedBlock,
    Labels,
    Vocabulary,
    combine_keys,
    merge_counts,
    visitor_counts,
)
from analytics.anonymise import (
    Anonymiser,
    Clients,
    split_query,
    strip_referrer,
)
from analytics.anonymised_log import anonymised_lines, anonymised_values, write_lines
from analytics.classify import Labeller
from analytics.distinct import unique_ints, values_and_codes
from analytics.formats import LogFormat, get_format
from analytics.read import (
    MAX_LINE_BYTES,
    ReadError,
    Source,
    open_stream,
    parse_lines,
    read_blocks,
    sniff_format,
    split_lines,
)
from shop.config import IPV4_PREFIX_RANGE, IPV6_PREFIX_RANGE

if TYPE_CHECKING:
    from analytics.geoip import CountryLookup
    from analytics.keptlines import KeptLines
    from analytics.state import State

COMBINED = get_format("combined")
PAGE_METHODS = ("GET", "HEAD")
PARSE_THREADS = 2
# The fields of a line counting reads: a line's time is read in place, its tail only written.
COUNTED_FIELDS = ("ip", "request", "status", "bytes", "referrer", "ua")


@dataclass(frozen=True)
class Options:
    """How one pass reads, anonymises and counts; fixed for the pass."""

    log_format: LogFormat | None = None  # None: detected per file
    ipv4_prefix: int = 24
    ipv6_prefix: int = 32
    own_host: str = ""  # the site's host: a referrer from it is no source
    form_path: str = ""  # the path of [site] form_action: a POST there answered 303 is a request
    countries: CountryLookup | None = None
    count: bool = True  # False: only write anonymised lines (anonymize)
    anonymised_out: IO[bytes] | None = None
    kept_lines: KeptLines | None = None  # anonymised lines per day, in the state folder
    same_format: bool = True  # anonymised lines in the input's format, else combined
    state: State | None = None  # offsets to resume from, day keys, the stored counts
    on_error: Callable[[str], None] = print
    on_malformed: Callable[[str, str], None] | None = None
    on_progress: Callable[[int], None] | None = None
    after_block: Callable[[], None] | None = None  # e.g. hand freed memory back to the OS


@dataclass
class Result:
    aggregator: Aggregator
    errors: list[str] = field(default_factory=list)
    lines: int = 0
    malformed: int = 0


class Pipeline:
    """One pass over the inputs; `finish()` turns what it collected into per-day counts."""

    def __init__(self, options: Options) -> None:
        self.options = options
        day_keys = options.state.day_keys if options.state is not None else None
        self.anonymiser = Anonymiser(
            options.ipv4_prefix, options.ipv6_prefix, day_keys, options.countries
        )
        self.names = {k: Vocabulary() for k in ("path", "agent", "referrer", "campaign", "country")}
        self.labeller = Labeller(options.own_host)
        self.result = Result(Aggregator())
        self._children: list[split.Child] = []
        self._parse_agents = True  # as they come, while reading in one process
        self._agent_parser: split.Helper | None = None  # or by a helper process
        self._agents_told = 0
        self._progress_credit = 0  # bytes a failed child reported, not to be reported again

    def read(self, sources: list[Source]) -> Result:
        """Read the sources: a large log in stretches, the later ones by forked children
        (analytics.split), whose partial counts are then taken over in order."""
        options = self.options
        splittable = options.count and options.state is None and options.kept_lines is None
        parts = split.plan(sources) if splittable else [_whole(sources)]
        with tempfile.TemporaryDirectory(prefix="analytics-parts-") as work, _gc_frozen():
            self._children = []
            try:
                for part in parts[1:]:
                    child = split.Child(functools.partial(self._read_part, part, work))
                    self._children.append(child)
                if self._children:
                    # ua-parser's matchers take half a second to build, in Rust that holds the
                    # interpreter: a helper process builds them beside the readers and parses
                    # the user agents this one tells it of as they come
                    classifier = classify.AgentClassifier
                    self._agent_parser = split.Helper(
                        classifier, classifier.take, classifier.labels
                    )
                elif options.count:
                    # the reading leaves the interpreter free often enough to build them
                    # meanwhile, and the user agents are parsed as they come
                    threading.Thread(target=classify.load_agent_parser, daemon=True).start()
                self._read_segments(parts[0])
                for child, part in zip(self._children, parts[1:], strict=True):
                    answer = child.result()
                    self._child_progress(child)
                    if answer is None:  # it failed: its stretch is read here instead
                        self._progress_credit = child.reported
                        self._read_segments(part)
                    else:
                        self._take_over(answer, last=child is self._children[-1])
                if self._agent_parser is not None:
                    self._tell_agents()
                    answer = self._agent_parser.result()
                    if answer is not None:  # else they are parsed here, at the end
                        self.labeller.classified_elsewhere(answer)
            finally:
                for child in self._children:
                    child.close()
                self._children = []
                if self._agent_parser is not None:
                    self._agent_parser.close()
                    self._agent_parser = None
        return self.result

    def _read_part(self, segments: list[split.Segment], work: str, report) -> dict:
        """In a child: read a stretch, collecting what the parent reports or writes."""
        options = self.options
        malformed: list[tuple[str, str]] = []
        anonymised = None
        if options.anonymised_out is not None:
            anonymised = open(tempfile.mkstemp(dir=work, prefix="anonymised-")[1], "wb")  # noqa: SIM115
        self.options = replace(
            options,
            anonymised_out=anonymised,
            on_error=lambda message: None,  # the parent reports result.errors
            on_malformed=(lambda *line: malformed.append(line)) if options.on_malformed else None,
            on_progress=report,
        )
        self.result = Result(Aggregator(work))
        self._parse_agents = False
        self._children = []  # the parent's earlier children are not this one's to read from
        self._read_segments(segments)
        if anonymised is not None:
            anonymised.close()
        return {
            "result": self.result,
            "names": {name: vocabulary.values for name, vocabulary in self.names.items()},
            "malformed": malformed,
            "anonymised": anonymised.name if anonymised is not None else None,
        }

    def _take_over(self, answer: dict, last: bool = False) -> None:
        """Add a child's stretch to this pass, as if it had been read here next (`last`: the
        last stretch, after which no new user agent comes)."""
        options, result = self.options, answer["result"]
        codes = {name: self.names[name].adopt(values) for name, values in answer["names"].items()}
        if last and self._agent_parser is not None:
            # the helper labels the last user agents while the counts are taken over
            self._tell_agents()
            self._agent_parser.done()
        for message in result.errors:
            self.result.errors.append(message)
            options.on_error(message)
        for name, line in answer["malformed"]:
            options.on_malformed(name, line)
        self.result.lines += result.lines
        self.result.malformed += result.malformed
        self.result.aggregator.merge(result.aggregator, codes)
        if answer["anonymised"] is not None:
            with open(answer["anonymised"], "rb") as f:
                shutil.copyfileobj(f, options.anonymised_out)
            os.unlink(answer["anonymised"])

    def _tell_agents(self) -> None:
        """Hand the user agents new since the last time to the helper that parses them."""
        agents = self.names["agent"].values
        if len(agents) > self._agents_told:
            self._agent_parser.tell(agents[self._agents_told :])
            self._agents_told = len(agents)

    def _report_progress(self, done: int) -> None:
        """Bytes read here; of a failed child's stretch, read again, those it had not reported."""
        again = min(done, self._progress_credit)
        self._progress_credit -= again
        if done > again and self.options.on_progress:
            self.options.on_progress(done - again)

    def _child_progress(self, child: split.Child) -> None:
        done = child.progress()
        child.reported += done
        if done and self.options.on_progress:
            self.options.on_progress(done)

    def _read_segments(self, segments: list[split.Segment]) -> None:
        # Read alone, a process parses the next blocks in threads meanwhile (pyarrow's kernels
        # leave the interpreter free); when the log is split, every core has a reading process
        # already and threads only add switching (a seventh more CPU time).
        alone = self._parse_agents and not self._children
        with ThreadPoolExecutor(max_workers=PARSE_THREADS) if alone else _AtOnce() as pool:
            for segment in segments:
                try:
                    self._read_source(segment, pool, PARSE_THREADS if alone else 0)
                except ReadError as e:
                    self.result.errors.append(str(e))
                    self.options.on_error(str(e))

    def _read_source(self, segment: split.Segment, pool: Executor, ahead: int) -> None:
        """Parse up to `ahead` blocks ahead in the pool, process them in order."""
        state = self.options.state
        source = segment.source
        fmt = self.options.log_format
        if fmt is None and segment.start:  # a stretch in the middle: the format of the file
            fmt = _file_format(source)
        # stdin cannot be read twice (and is never resumed): no mark
        mark = stream_mark(source, fmt) if state is not None and source.path else None
        offset = state.resume_offset(source, mark) if state is not None else segment.start
        pending: deque = deque()
        writes = self.options.anonymised_out is not None or self.options.kept_lines is not None
        try:
            try:
                for block, end in read_blocks(source, offset, end=segment.end):
                    if fmt is None:
                        fmt = sniff_format(block) or COMBINED
                    pending.append((pool.submit(_prepare, block, fmt, writes), end))
                    self._report_progress(len(block))
                    if len(pending) > ahead:
                        offset = self._process_next(pending, fmt, source.name)
            finally:  # a corrupt tail: the blocks read before it still count
                while pending:
                    offset = self._process_next(pending, fmt, source.name)
        finally:
            for job, _ in pending:
                job.cancel()
            if state is not None:
                state.record(source, mark, offset)

    def _process_next(self, pending: deque, fmt: LogFormat, name: str) -> int:
        job, end = pending.popleft()
        self._process(job.result(), fmt, name)
        if self.options.after_block:
            self.options.after_block()
        for child in self._children:
            self._child_progress(child)
        return end

    def _process(self, parsed: ParsedBlock, fmt: LogFormat, name: str) -> None:
        """Anonymise a parsed block, set its malformed lines apart, write and count the rest."""
        self.result.lines += parsed.lines
        rows, clients = self._anonymise(parsed)
        self._count_malformed(parsed, name)
        if not len(rows["day"]):
            return
        if self.options.anonymised_out is not None or self.options.kept_lines is not None:
            self._write_anonymised(rows, clients, fmt)
        if self.options.count:
            self.result.aggregator.add(self._classify(rows, clients))

    def _anonymise(self, parsed: ParsedBlock) -> tuple[dict, Clients]:
        """The rows' clients; a row whose address is no IP joins the block's malformed lines."""
        rows = parsed.rows
        clients = self.anonymiser.clients(rows["ip"], rows["ua"], rows["day"])
        if clients.valid.all():
            return rows, clients
        invalid = ~clients.valid
        not_ip = parsed.all_lines.take(pa.array(rows["index"][invalid]))
        parsed.bad_lines = pa.concat_arrays([parsed.bad_lines, not_ip])
        parsed.bad_days = np.concatenate([parsed.bad_days, rows["day"][invalid].astype(np.float64)])
        kept = Clients(*(_filter({"x": v}, clients.valid)["x"] for v in vars(clients).values()))
        return _filter(rows, clients.valid), kept

    def _count_malformed(self, parsed: ParsedBlock, name: str) -> None:
        bad_days = parsed.bad_days
        if not len(bad_days):
            return
        self.result.malformed += len(bad_days)
        if self.options.on_malformed:  # printed lines are anonymised as written ones are
            for line in self.anonymiser.scrub_text(parsed.bad_lines).to_pylist():
                self.options.on_malformed(name, line.rstrip("\r\n"))
        dated = bad_days[~np.isnan(bad_days)].astype(np.int64)
        self.result.aggregator.add_malformed(dated, undated=len(bad_days) - len(dated))

    def _write_anonymised(self, rows: dict, clients: Clients, fmt: LogFormat) -> None:
        options = self.options
        values = anonymised_values(
            rows, clients.truncated, rows["method"], rows["clean_path"], rows["protocol"],
            rows.get("stripped_referrer"), self.anonymiser,
        )  # fmt: skip
        tokens = fmt.tokens if options.same_format else COMBINED.tokens
        if not options.same_format:
            values.pop("rest", None)
        lines = anonymised_lines(tokens, values, len(rows["day"]))
        if options.anonymised_out is not None:
            write_lines(lines, options.anonymised_out)
        if options.kept_lines is not None:
            options.kept_lines.write(lines, rows["day"])

    def _classify(self, rows: dict, clients: Clients) -> ClassifiedBlock:
        """The block's rows as codes and the classifier's yes/no answers, for the aggregator."""
        status, method, day = rows["status_code"], rows["method"], rows["day"]
        paths, agents = self.names["path"], self.names["agent"]
        path = paths.codes(rows["clean_path"])
        page_path, probe = self.labeller.pages_and_probes(paths.values)
        agent = agents.codes(rows["ua"])
        if self._agent_parser is not None:
            self._tell_agents()
        elif self._parse_agents:  # (a child's are parsed by its parent's helper)
            self.labeller.parse_agents(agents.values)
        is_get = _each_value(method, lambda m: pc.is_in(m, pa.array(PAGE_METHODS)))
        good_status = ((status >= 200) & (status < 300)) | (status == 304)
        form_id = paths.ids.get(self.options.form_path, -2)
        is_post = _each_value(method, lambda m: pc.equal(m, "POST"))
        referrer = rows.get("stripped_referrer")
        return ClassifiedBlock(
            day=day,
            hour=rows["hour"],
            ts=rows["ts"],
            visitor=clients.visitor,
            status=status,
            bytes=rows["size"],
            path=path,
            page=page_path[path] & is_get & good_status,
            form_sent=(path == form_id) & is_post & (status == 303),
            probe=probe[path],
            robots=path == paths.ids.get(classify.ROBOTS_TXT, -2),
            agent=agent,
            referrer=self.names["referrer"].codes(referrer)
            if referrer is not None
            else np.full(len(day), -1, np.int32),
            campaign=self.names["campaign"].codes(rows["campaign"]),
            country=self.names["country"].codes(clients.country)
            if self.options.countries is not None
            else np.full(len(day), -1, np.int32),
        )


@dataclass
class ParsedBlock:
    """A parsed block: malformed lines apart, per-row columns of the good ones (`rows`)."""

    lines: int
    bad_lines: pa.Array
    bad_days: np.ndarray  # the day of the line before each malformed one (NaN if none)
    rows: dict
    all_lines: pa.Array


class _AtOnce(Executor):
    """An executor that runs what it is given at once, in the calling thread."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        job: Future = Future()
        try:
            job.set_result(fn(*args, **kwargs))
        except Exception as e:  # raised by result(), as a pool's job would
            job.set_exception(e)
        return job


@contextlib.contextmanager
def _gc_frozen() -> Iterator[None]:
    """The objects that exist now (the imported modules: most of them) are left out of the
    garbage collector's full passes while the logs are read, and shared with forked children
    without copying; they are collected as usual afterwards."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _whole(sources: list[Source]) -> list[split.Segment]:
    return [split.Segment(source) for source in sources]


def _file_format(source: Source) -> LogFormat:
    """The format its first lines show (for a stretch that starts further on)."""
    try:
        with open_stream(source) as stream:
            return sniff_format(stream.read(MARK_HEAD_BYTES)) or COMBINED
    except (ReadError, OSError):
        return COMBINED


def _prepare(block: bytes, fmt: LogFormat, every_field: bool = True) -> ParsedBlock:
    """Everything per block that needs no shared state (run in a worker thread, when there is
    one); `every_field` False: only what counting reads (no line is written)."""
    parsed = parse_lines(split_lines(block), fmt, None if every_field else COUNTED_FIELDS, block)
    ok = parsed.ok
    if len(block) > MAX_LINE_BYTES:  # a line longer than nginx writes is malformed
        ok &= pc.binary_length(parsed.lines).to_numpy(zero_copy_only=False) <= MAX_LINE_BYTES + 2
    bad_days = np.zeros(0)
    if not ok.all():
        bad_days = _nearest_good(parsed.day, ok)[~ok]
    rows = dict(parsed.columns, day=parsed.day, hour=parsed.hour, ts=parsed.ts)
    rows["index"] = np.arange(len(ok))
    if "ua" not in rows:
        rows["ua"] = pa.nulls(len(ok), pa.string())
    bad_lines = parsed.lines.filter(pa.array(~ok))
    rows = _filter(rows, ok)
    # Addresses and user agents are looked up once per distinct value: find those here, in
    # parallel, rather than in the main thread.
    for name in ("ip", "ua"):
        rows[name] = pc.dictionary_encode(rows[name], null_encoding="encode")
    # A shop's log repeats a few thousand request lines: split each distinct one once.
    requests = pc.dictionary_encode(rows["request"])
    method, raw_path, protocol = _split_request(requests.dictionary)
    clean_path, campaign = split_query(raw_path)
    for name, column in (
        ("method", method), ("protocol", protocol), ("clean_path", clean_path), ("campaign", campaign)
    ):  # fmt: skip
        # kept as codes into the distinct requests' values: the vocabularies need no new encoding
        rows[name] = pa.DictionaryArray.from_arrays(requests.indices, column)
    if "referrer" in rows:
        rows["stripped_referrer"] = strip_referrer(rows["referrer"])
    rows["status_code"] = pc.cast(rows["status"], pa.int16()).to_numpy(zero_copy_only=False)
    size = rows.get("bytes")
    if size is not None:
        size = pc.cast(pc.if_else(pc.equal(size, "-"), "0", size), pa.int64())
        rows["size"] = size.to_numpy(zero_copy_only=False)
    else:
        rows["size"] = np.zeros(len(rows["day"]), np.int64)
    return ParsedBlock(len(ok), bad_lines, bad_days, rows, parsed.lines)


MARK_HEAD_BYTES = 64 * 1024


def stream_mark(source: Source, fmt: LogFormat | None) -> dict | None:
    """What recognises a log stream after rotation, from anonymised data only: its first
    request line anonymised with the coarsest masks, as a digest, and that line's time (UTC
    seconds). None when the stream's head holds no complete request line."""
    try:
        with open_stream(source) as stream:
            head = stream.read(MARK_HEAD_BYTES)
    except (ReadError, OSError, EOFError, zlib.error):
        return None
    head = head[: head.rfind(b"\n") + 1]
    if not head:
        return None
    fmt = fmt or sniff_format(head) or COMBINED
    rows = _prepare(head, fmt).rows
    if not len(rows["day"]):
        return None
    first = _filter(rows, np.arange(len(rows["day"])) == 0)
    coarsest = Anonymiser(IPV4_PREFIX_RANGE[0], IPV6_PREFIX_RANGE[0])
    clients = coarsest.clients(first["ip"], first["ua"], first["day"])
    values = anonymised_values(
        first, clients.truncated, first["method"], first["clean_path"], first["protocol"],
        first.get("stripped_referrer"), coarsest,
    )  # fmt: skip
    values.pop("rest", None)
    line = anonymised_lines(COMBINED.tokens, values, 1)[0].as_py()
    digest = hashlib.sha256(line.encode("utf-8")).hexdigest()
    return {"first_line": digest, "first_time": int(first["ts"][0])}


def _nearest_good(day: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Each line's day if it is good, else the day of the good line before it (after it, for
    lines before the first good one); NaN when no line is good."""
    if not ok.any():
        return np.full(len(ok), np.nan)
    good = np.flatnonzero(ok)
    before = np.maximum.accumulate(np.where(ok, np.arange(len(ok)), -1))
    return day[np.where(before >= 0, before, good[0])].astype(np.float64)


def _each_value(column: pa.Array, test: Callable[[pa.Array], pa.Array]) -> np.ndarray:
    """A yes/no test per row (null: no), run once per distinct value."""
    values, codes = values_and_codes(column)
    return pc.fill_null(test(values), False).to_numpy(zero_copy_only=False)[codes]


def _filter(rows: dict, keep: np.ndarray) -> dict:
    """Rows where `keep` is true, for Arrow and numpy columns alike."""
    if keep.all():
        return rows
    mask = pa.array(keep)
    return {k: v[keep] if isinstance(v, np.ndarray) else v.filter(mask) for k, v in rows.items()}


def _split_request(request: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Method, path and protocol of request lines; nulls for `-` and junk requests."""
    padded = pc.binary_join_element_wise(request, pa.scalar("  "), "")
    parts = pc.split_pattern(padded, " ", max_splits=2)
    method = pc.list_element(parts, 0)
    path = pc.list_element(parts, 1)
    protocol = pc.utf8_rtrim(pc.list_element(parts, 2), " ")
    valid = pc.and_(
        pc.and_(
            pc.match_substring_regex(method, r"^[A-Z][A-Z_-]{1,15}$"),
            pc.greater(pc.utf8_length(path), 0),
        ),
        # "GET /a /b?c HTTP/1.1" is junk too: its third part holds more than a protocol
        pc.match_substring_regex(protocol, r"^([A-Za-z]+/[0-9.]+)?$"),
    )
    valid = pc.fill_null(valid, False)
    null = pa.scalar(None, pa.string())
    protocol = pc.if_else(pc.equal(protocol, ""), null, protocol)
    return (
        pc.if_else(valid, method, null),
        pc.if_else(valid, path, null),
        pc.if_else(valid, protocol, null),
    )


def finish(pipeline: Pipeline) -> pd.DataFrame:
    """All per-day counts: this run's plus the state's, recomputing days whose visitors are open."""
    state = pipeline.options.state
    names = pipeline.names
    aggregator = pipeline.result.aggregator
    stored = old_keys = old_events = None
    if state is not None:
        stored, old_keys, old_events = state.load(names)
    keys = aggregator.visitor_keys
    if old_keys is not None and len(old_keys):
        keys.append(_columns(old_keys))
    events = aggregator.events
    if old_events is not None and len(old_events):
        events.append(_columns(old_events))
    labels = Labels(
        agents=pipeline.labeller.agent_labels(names["agent"].values),
        referrers=pipeline.labeller.referrer_labels(names["referrer"].values),
    )
    # Visitor keys a batch of days at a time: only the bots' are kept (and, with a state, the
    # open days'), so the memory they take is a batch's however long the log.
    bots, derived_days, open_days, open_keys = [], set(), [], [_subset(combine_keys([]), [])]
    try:
        for batch in keys.batches():
            memory.hand_back()  # what the last batch took, before this one takes more
            bots.append(_bots(batch, labels))
            days = unique_ints(batch["day"]).tolist()
            derived_days.update(days)
            if state is not None:
                opened = [d for d in days if state.is_open(d)]
                open_days.extend(opened)
                open_keys.append(_subset(batch, opened))
    finally:
        keys.close()
    bots = {
        c: np.concatenate([np.zeros(0, t), *(b[c] for b in bots)]) for c, t in BOT_DTYPES.items()
    }
    if state is not None:
        open_keys = pd.concat(open_keys, ignore_index=True)
        open_events = _subset({c: events.column(c) for c in EVENT_COLUMNS}, open_days)
    try:
        derived = visitor_counts(bots, events, names, labels)
    finally:
        events.close()
    counts = merge_counts([aggregator.request_counts(names["path"]), derived, stored])
    if state is not None:
        state.save(counts, derived_days, open_keys, open_events, names)
    return counts


BOT_DTYPES = {"day": np.int32, "visitor": np.int64, "requests": np.int64, "reason": object}


def _bots(keys: dict[str, np.ndarray], labels: Labels) -> dict[str, np.ndarray]:
    """The visitor keys that are bots, with their day, requests and why (`reason`)."""
    no_agent = len(labels.agents.bot) - 1  # the label of code -1
    agent = np.where(keys["agent"] < 0, no_agent, keys["agent"])
    # the reasons (strings) only for the keys that may have one: most are people
    maybe = (labels.agents.bot != "")[agent] | keys["robots"] | keys["probe"]
    maybe |= keys["requests"] > classify.MAX_REQUESTS_PER_DAY
    some = {c: keys[c][maybe] for c in ("day", "visitor", "requests", "robots", "probe")}
    listed = labels.agents.bot[agent[maybe]]
    reason = classify.bot_reasons(listed, some["robots"], some["probe"], some["requests"])
    is_bot = reason != ""
    return {
        "reason": reason[is_bot],
        **{c: some[c][is_bot] for c in ("day", "visitor", "requests")},
    }


def _columns(frame: pd.DataFrame | None) -> dict | None:
    return None if frame is None else {c: frame[c].to_numpy() for c in frame.columns}


def _subset(columns: dict, days: list[int]) -> pd.DataFrame:
    """Rows of `days` as a DataFrame (for the state's parquet files)."""
    keep = np.isin(columns["day"], days)
    return pd.DataFrame({c: v[keep] for c, v in columns.items()})


def compact(state: State) -> None:
    """Turn the per-visitor rows of days whose hash key has expired into counts, reading no log."""
    finish(Pipeline(Options(state=state)))
