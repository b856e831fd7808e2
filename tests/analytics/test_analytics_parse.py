"""Parser edge cases: escapes, odd requests, IPv6, extra fields, vhosts, long and broken lines."""

from __future__ import annotations

import datetime as dt
import gzip

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics import times
from analytics.days import day_number
from analytics.formats import FormatError, detect_format, get_format
from analytics.read import Source, parse_lines, read_blocks, split_lines
from analytics.times import MONTH_NAMES


def parse(text: str, fmt: str = "combined"):
    block = text.encode()
    return parse_lines(split_lines(block), get_format(fmt))


def field(parsed, name):
    return parsed.columns[name].to_pylist()


def test_apache_and_nginx_quote_escapes(line):
    apache = line(ua='Mozilla/5.0 \\"quoted\\" agent', request='GET /a\\"b HTTP/1.1')
    nginx = line(ua="Mozilla/5.0 \\x22quoted\\x22 agent")
    parsed = parse(apache + nginx)
    assert parsed.ok.tolist() == [True, True]
    assert field(parsed, "ua") == [
        'Mozilla/5.0 \\"quoted\\" agent',
        "Mozilla/5.0 \\x22quoted\\x22 agent",
    ]
    assert field(parsed, "request")[0] == 'GET /a\\"b HTTP/1.1'
    assert field(parsed, "status") == ["200", "200"]


@pytest.mark.parametrize(
    "request_line",
    ["-", "\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xFC\\x03\\x03", "", "GET"],
)
def test_dash_and_junk_requests_are_requests(line, request_line):
    parsed = parse(line(request=request_line, status=400, size=0, ua="-"))
    assert parsed.ok.tolist() == [True]
    assert field(parsed, "request") == [request_line]


@pytest.mark.parametrize("ip", ["2001:db8::1", "::ffff:192.0.2.7", "192.0.2.7", "[2001:db8::2]"])
def test_ipv6_and_mapped_clients(line, ip):
    assert field(parse(line(ip=ip)), "ip") == [ip]


def test_empty_referrer_and_dash_bytes(line):
    parsed = parse(line(referrer="", size="-"))
    assert parsed.ok.tolist() == [True]
    assert field(parsed, "referrer") == [""]
    assert field(parsed, "bytes") == ["-"]


def test_extra_trailing_fields_after_user_agent(line):
    parsed = parse(line(extra=' "203.0.113.9, 198.51.100.2" 0.004 rt=0.010'))
    assert parsed.ok.tolist() == [True]
    assert field(parsed, "rest") == [' "203.0.113.9, 198.51.100.2" 0.004 rt=0.010']


def test_vhost_prefix_with_and_without_port(line):
    text = "www.example.org:443 " + line() + "shop.example " + line()
    fmt = detect_format(text.splitlines())
    assert fmt.name == "vhost_combined"
    parsed = parse_lines(split_lines(text.encode()), fmt)
    assert parsed.ok.tolist() == [True, True]
    assert field(parsed, "vhost") == ["www.example.org:443", "shop.example"]
    assert field(parsed, "ip") == ["192.0.2.10", "192.0.2.10"]


def test_common_format_detected(line):
    text = '192.0.2.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326\n'
    assert detect_format([text]).name == "common"
    parsed = parse(text, "common")
    assert parsed.ok.tolist() == [True]


def test_lines_longer_than_4k(line):
    long_path = "/" + "a" * 9000
    parsed = parse(line(request=f"GET {long_path} HTTP/1.1", ua="x" * 5000))
    assert parsed.ok.tolist() == [True]
    assert len(field(parsed, "request")[0]) > 9000


def test_time_zones_and_out_of_order(line):
    parsed = parse(
        line(when="21/Oct/2026:10:00:00 +0200")
        + line(when="21/Oct/2026:07:00:00 -0100")
        + line(when="20/Oct/2026:23:30:00 +0000")
    )
    assert parsed.ok.all()
    # 10:00+02 = 08:00Z, 07:00-01 = 08:00Z: the same instant, local hours kept as written
    assert parsed.ts[0] == parsed.ts[1]
    assert parsed.hour.tolist() == [10, 7, 23]
    assert parsed.day[2] == parsed.day[0] - 1


def test_invalid_dates_and_garbage_are_malformed(line):
    parsed = parse(
        line(when="32/Oct/2026:10:00:00 +0200")
        + "this is not a log line\n"
        + "\n"
        + line(status="2000")
        + line()
    )
    assert parsed.ok.tolist() == [False, False, False, False, True]


def test_truncated_last_line_is_counted(tmp_path, line):
    path = tmp_path / "access.log"
    path.write_text(line() + line()[:40])
    blocks = list(read_blocks(Source("x", path)))
    lines = [split_lines(b) for b, _ in blocks]
    assert sum(len(x) for x in lines) == 2
    assert blocks[-1][1] == path.stat().st_size


def test_crlf_and_invalid_utf8(line):
    block = line().replace("\n", "\r\n").encode() + line(ua="caf\xe9").encode("latin-1")
    parsed = parse_lines(split_lines(block), get_format("combined"))
    assert parsed.ok.tolist() == [True, True]
    assert field(parsed, "ua")[1] == "caf\ufffd"


def test_gzip_and_block_boundaries(tmp_path, line):
    text = "".join(line(request=f"GET /{i} HTTP/1.1") for i in range(500))
    path = tmp_path / "access.log.2.gz"
    path.write_bytes(gzip.compress(text.encode()))
    blocks = list(read_blocks(Source("x", path), block_bytes=1000))
    requests = [r for b, _ in blocks for r in parse(b.decode()).columns["request"].to_pylist()]
    assert requests == [f"GET /{i} HTTP/1.1" for i in range(500)]


def test_custom_nginx_log_format():
    fmt = get_format(
        '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
        '"$http_referer" "$http_user_agent" "$http_x_forwarded_for" $request_time $host'
    )
    text = (
        '192.0.2.1 - - [21/Oct/2026:10:00:00 +0200] "GET / HTTP/1.1" 200 5 "-" "UA x" '
        '"198.51.100.7" 0.001 www.example.org\n'
    )
    parsed = parse_lines(split_lines(text.encode()), fmt)
    assert parsed.ok.tolist() == [True]
    assert parsed.columns["xff"].to_pylist() == ["198.51.100.7"]
    assert parsed.columns["vhost"].to_pylist() == ["www.example.org"]


def test_custom_format_with_iso_time():
    fmt = get_format('$remote_addr [$time_iso8601] "$request" $status')
    parsed = parse_lines(
        split_lines(b'192.0.2.1 [2026-10-21T10:00:00+02:00] "GET / HTTP/1.1" 200\n'), fmt
    )
    assert parsed.ok.tolist() == [True]
    assert parsed.hour.tolist() == [10]


@pytest.mark.parametrize("bad", ["nonsense", "$remote_addr $status", "no variables at all"])
def test_bad_log_format_is_a_clear_error(bad):
    with pytest.raises(FormatError):
        get_format(bad)


def test_detection_prefers_format_matching_most_lines(line):
    lines = [line() for _ in range(5)] + ["garbage"]
    assert detect_format(lines).name == "combined"
    assert detect_format(["garbage", "more garbage"]) is None
    assert isinstance(split_lines(b"a\nb\n"), pa.Array)


def test_lines_before_a_corrupt_gzip_tail_still_count(tmp_path, line):
    from analytics.pipeline import Options, Pipeline
    from analytics.read import ReadError

    data = gzip.compress("".join(line() for _ in range(3000)).encode())
    path = tmp_path / "access.log.2.gz"
    path.write_bytes(data[: len(data) - 20])  # cut off: the last lines and the trailer are gone
    errors = []
    result = Pipeline(Options(on_error=errors.append)).read([Source(path.name, path)])
    assert len(errors) == 1 and "access.log.2.gz: corrupt" in errors[0]
    assert 0 < result.lines <= 3000
    with pytest.raises(ReadError):
        list(read_blocks(Source(path.name, path)))


def test_a_gzip_bomb_of_one_line_is_one_malformed_line_in_flat_memory(tmp_path, line):
    """A line without a newline no longer grows without bound: cut at MAX_LINE_BYTES."""
    import tracemalloc

    from analytics.pipeline import Options, Pipeline

    bomb = 100 * 1024 * 1024
    path = tmp_path / "access.log.gz"
    with gzip.open(path, "wb", 1) as f:
        f.write(line().encode())
        for _ in range(bomb // (1024 * 1024)):
            f.write(b"A" * (1024 * 1024))
        f.write(b"\n" + line().encode())
    tracemalloc.start()
    try:
        result = Pipeline(Options(count=False)).read([Source("bomb", path)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (result.lines, result.malformed, result.errors) == (3, 1, [])
    assert peak < bomb // 2


def test_lines_longer_than_the_cap_are_malformed_inside_a_block_too(tmp_path, line):
    from analytics.pipeline import Options, Pipeline

    path = tmp_path / "access.log"  # 100 KB: far more than nginx ever writes in one line
    path.write_text(line() + line(request=f"GET /{'a' * 100_000} HTTP/1.1") + line())
    result = Pipeline(Options(count=False)).read([Source("long", path)])
    assert (result.lines, result.malformed) == (3, 1)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 39),
            st.sampled_from([*MONTH_NAMES, "jan", "OCT", "Foo"]),
            st.one_of(st.integers(0, 9999), st.sampled_from([1900, 2000, 2024, 2100])),
            st.integers(0, 99),
            st.integers(0, 99),
            st.integers(0, 99),
            st.sampled_from(["+", "-"]),
            st.integers(0, 9999),
        ),
        max_size=30,
    )
)
def test_local_times_as_the_calendar_has_them(moments):
    """Times read in bulk from the text give what datetime gives, line by line; a date that
    does not exist (31 Feb, 29 Feb 2100, year 0, day 0) gives none."""
    texts = [
        f"{d:02d}/{m}/{y:04d}:{hh:02d}:{mm:02d}:{ss:02d} {sign}{zone:04d}"
        for d, m, y, hh, mm, ss, sign, zone in moments
    ]
    utc, offset = times.from_column(pa.array([*texts, None, "short"], pa.string()))
    for i, (d, m, y, hh, mm, ss, sign, zone) in enumerate(moments):
        try:
            date = dt.date(y, MONTH_NAMES.index(m) + 1, d)
        except ValueError:
            assert np.isnan(utc[i]) and np.isnan(offset[i])
            continue
        east = (zone // 100 * 3600 + zone % 100 * 60) * (-1 if sign == "-" else 1)
        assert offset[i] == east
        assert utc[i] == day_number(date) * 86400 + hh * 3600 + mm * 60 + ss - east
    assert np.isnan(utc[-2:]).all()
