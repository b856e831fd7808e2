"""Truncation, visitor keys and their 48-hour lifetime, query strings, X-Forwarded-For."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.anonymise import (
    Anonymiser,
    _strip_url,
    campaign_of,
    split_query,
    strip_referrer,
    truncate_ip,
    truncate_ips,
)
from analytics.cli import cli
from analytics.days import day_number
from analytics.keydir import DayKeys

DAY = day_number(dt.date(2026, 10, 21))


@pytest.mark.parametrize(
    ("ip", "v4", "v6", "expected"),
    [
        ("192.0.2.77", 24, 32, "192.0.2.0"),
        ("192.0.2.77", 16, 32, "192.0.0.0"),
        ("2001:db8:1234:5678::1", 24, 40, "2001:db8:1200::"),
        ("2001:db8:1234:5678::1", 24, 32, "2001:db8::"),
        ("::ffff:198.51.100.9", 24, 32, "198.51.100.0"),
        ("[2001:db8::1]", 24, 32, "2001:db8::"),
        ("not-an-ip", 24, 32, None),
        ("", 24, 32, None),
    ],
)
def test_truncate_ip(ip, v4, v6, expected):
    assert truncate_ip(ip, v4, v6) == expected


def test_visitor_key_same_day_same_client_only():
    a = Anonymiser(day_keys=DayKeys(now=dt.datetime(2026, 10, 21, 12, tzinfo=dt.UTC)))
    same = a.visitor_key(DAY, "192.0.2.1", "UA")
    assert a.visitor_key(DAY, "192.0.2.1", "UA") == same
    assert a.visitor_key(DAY, "192.0.2.2", "UA") != same  # same /24, other visitor
    assert a.visitor_key(DAY, "192.0.2.1", "UA2") != same
    assert a.visitor_key(DAY + 1, "192.0.2.1", "UA") != same  # a new key every day


def test_clients_vectorised_matches_single_lookup():
    a = Anonymiser(countries=None)
    ips = pa.array(["192.0.2.1", "2001:db8::5", "bogus", "192.0.2.1"])
    uas = pa.array(["A", "B", "C", "A"])
    days = np.array([DAY, DAY, DAY, DAY + 1], np.int32)
    c = a.clients(ips, uas, days)
    assert c.valid.tolist() == [True, True, False, True]
    assert c.truncated.to_pylist() == ["192.0.2.0", "2001:db8::", None, "192.0.2.0"]
    assert c.visitor[0] == a.visitor_key(DAY, "192.0.2.1", "A")
    assert c.visitor[3] == a.visitor_key(DAY + 1, "192.0.2.1", "A")
    assert c.visitor[0] != c.visitor[3]


@st.composite
def ipv6_texts(draw) -> str:
    """An IPv6 address in one of the ways it can be written (zero runs, IPv4-mapped, case,
    leading zeros, `::` anywhere it may stand), or one character changed."""
    words = draw(st.lists(st.sampled_from([0, 0, 0, 1, 0xFFFF, 0xDB8, 0x2001]) | st.integers(0, 0xFFFF), min_size=8, max_size=8))  # fmt: skip
    if draw(st.booleans()):
        words[:6] = [0, 0, 0, 0, 0, 0xFFFF]  # IPv4-mapped
    packed = b"".join(w.to_bytes(2, "big") for w in words)
    style = draw(st.sampled_from(["canonical", "full", "compressed"]))
    if style == "canonical":
        text = socket.inet_ntop(socket.AF_INET6, packed)
    else:
        groups = [
            draw(st.sampled_from([f"{w:x}", f"{w:04x}", f"{w:X}"])) for w in words
        ]  # fmt: skip
        if style == "compressed":
            zeros = [i for i, w in enumerate(words) if w == 0]
            if zeros:
                start = draw(st.sampled_from(zeros))
                end = start
                while end + 1 < 8 and words[end + 1] == 0 and draw(st.booleans()):
                    end += 1
                groups = [*groups[:start], "", *groups[end + 1 :]]
                if start == 0:
                    groups.insert(0, "")
                if end == 7:
                    groups.append("")
        text = ":".join(groups)
    if draw(st.booleans()):  # a near miss: one character changed, added or dropped
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(["", ":", "g", "0", "."])) + text[at + 1 :]
    return text


@settings(max_examples=400, deadline=None)
@given(st.lists(ipv6_texts(), min_size=1, max_size=20), st.integers(16, 40))
def test_ipv6_truncated_in_bulk_as_each_is_truncated(texts, prefix):
    a = Anonymiser(24, prefix)
    clients = a.clients(pa.array(texts), pa.array(["UA"] * len(texts)), np.full(len(texts), DAY))
    assert clients.truncated.to_pylist() == [truncate_ip(t, 24, prefix) for t in texts]


@settings(max_examples=600, deadline=None)
@given(
    st.lists(
        ipv6_texts()
        | ipv6_texts().map(lambda text: f"[{text}]")  # as in a URL
        | st.ip_addresses().map(str)
        | st.text(max_size=12),
        max_size=30,
    ),
    st.integers(8, 32),
    st.integers(16, 64),
)
def test_truncation_is_the_network_of_the_prefix(texts, v4, v6):
    """Against the standard library's own parser: every address, written in any of its ways,
    becomes the network of its prefix (IPv4-mapped ones as IPv4); anything else, None."""

    def network(text: str) -> str | None:
        try:
            address = ipaddress.ip_address(text.strip("[]"))
        except ValueError:
            return None
        if address.version == 6 and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        prefix = v4 if address.version == 4 else v6
        return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)

    assert truncate_ips(texts, v4, v6) == [network(text) for text in texts]
    assert [truncate_ip(text, v4, v6) for text in texts] == [network(text) for text in texts]


def test_day_keys_persist_only_48_hours_after_the_day(tmp_path):
    # The day of 21 Oct ends first at UTC+14: 21 Oct 10:00 UTC.
    day_end = dt.datetime(2026, 10, 21, 10, tzinfo=dt.UTC)
    path = tmp_path / "day-keys.json"
    keys = DayKeys(path, now=day_end + dt.timedelta(hours=47))
    key = keys.key(DAY)
    keys.save()
    assert json.loads(path.read_text()) == {str(DAY): key.hex()}
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert DayKeys(path, now=day_end + dt.timedelta(hours=47)).key(DAY) == key
    later = DayKeys(path, now=day_end + dt.timedelta(hours=49))
    assert later.keys == {}
    later.save()
    assert not path.exists()


def test_query_strings_dropped_utm_become_campaign():
    paths = pa.array(
        [
            "/contact/?email=a@example.com&token=abc",
            "/?utm_source=flyer&utm_campaign=opening&fbclid=x",
            "/plain/",
            None,
        ]
    )
    clean, campaign = split_query(paths)
    assert clean.to_pylist() == ["/contact/", "/", "/plain/", None]
    assert campaign.to_pylist() == [None, "flyer / opening", None, None]
    assert campaign_of("/?utm_medium=email") == "email"


def test_referrer_loses_query_and_user_info():
    refs = pa.array(
        ["https://user:pw@www.google.com/search?q=laptop+repair", "-", "", "android-app://x"]
    )
    assert strip_referrer(refs).to_pylist() == [
        "https://www.google.com/search",
        "-",
        "",
        "android-app://x",
    ]


_PIECE = st.sampled_from(
    ["www", "Google", "nl", "80", "0", "08", "65536", "::1", "a b", "\t", "é", "%2F", "q=x&y=1",
     "user:pw@", "[", "]", " ", "\x00", "-", ".", "/", "?", "#", ":", "@", "//", ""]
)  # fmt: skip
_URLS = st.builds(
    "{}{}{}{}{}{}".format,
    st.sampled_from(["http", "https", "HTTPS", "android-app", "", "-"]),
    st.sampled_from(["://", ":", "//", ""]),
    st.lists(_PIECE, max_size=5).map("".join),  # host, perhaps with user info or a port
    st.sampled_from(["", ":80", ":0", ":08", ":9999", ":99999", ":x"]),
    st.lists(st.sampled_from(["/", "a", "B", ".php", " ", "é", "%20"]), max_size=6).map("".join),
    st.sampled_from(["", "?", "?q=1", "#top", "?a=1#b", "?x=é"]),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_URLS, st.text(max_size=30), st.none()), max_size=20))
def test_referrers_cut_in_bulk_as_urlsplit_cuts_each(referrers):
    """The RE2 fast path for plain URLs answers what urlsplit answers, for any string."""
    column = pa.array(referrers, pa.string())
    assert strip_referrer(column).to_pylist() == [_strip_url(r) for r in referrers]


def test_addresses_in_forwarded_for_are_truncated():
    a = Anonymiser(ipv6_prefix=40)
    text = pa.array(['"203.0.113.9, 2001:db8:aa:bb::1, ::ffff:198.51.100.3"', " 0.004", None])
    assert a.truncate_in_text(text).to_pylist() == [
        '"203.0.113.0, 2001:db8::, 198.51.100.0"',
        " 0.004",
        None,
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a prefix glued to the address, and an unbracketed IPv6 host:port: both came through whole
        ("ip:2001:db8:1:2::7", "2001:db8::"),
        ("2001:db8:1:2:3:4:5:6:443", "2001:db8::"),
        ("[2001:db8:1:2::7]:443, 198.51.100.7:8080", "2001:db8::, 198.51.100.0"),
        ('for="[2001:db8:cafe::17]:4711";proto=https', 'for="2001:db8::";proto=https'),
        ("fe80::1:2:3%eth0", "fe80::"),
        ("::ffff:198.51.100.3", "198.51.100.0"),
        # looks like an address but none parses: masked whole
        ("ab2001:db8::7", "-"),
        ("1.2.3.4.5", "-"),
        ("unknown, proxy.example:8080", "unknown, proxy.example:8080"),
    ],
)
def test_every_token_holding_an_address_is_truncated_or_masked(text, expected):
    assert Anonymiser().truncate_in_text(pa.array([text])).to_pylist() == [expected]


def test_junk_request_lines_lose_their_query_strings_and_addresses(tmp_path, line):
    log = tmp_path / "access.log"
    log.write_text(
        line(request="\\x16\\x03\\x01?token=secret&ip=198.51.100.7")
        + line(request="get /x?mail=a@example.org HTTP/1.1")
    )
    out = tmp_path / "anonymised.log"
    result = CliRunner().invoke(cli, ["anonymize", str(log), "-o", str(out)])
    assert result.exit_code == 0, result.output
    requests = [row.split('"')[1] for row in out.read_text().splitlines()]
    assert requests == ["\\x16\\x03\\x01", "get /x HTTP/1.1"]


def test_a_campaign_holds_no_address():
    assert campaign_of("/?utm_source=news&utm_campaign=198.51.100.7") == "news / -"
    assert campaign_of("/?utm_source=2001:db8::7") == "-"


_PATHS = st.builds(
    "{}{}{}".format,
    st.sampled_from(["/", "/tips/1-utm_x/", "/a", "", "/é"]),
    st.sampled_from(["", "?", "??", "?utm_source=flyer", "?a=1&utm_medium=mail&utm_source=x"]),
    st.sampled_from(["", "&utm_campaign=najaar", "&utm_source=192.0.2.1", "#f", "?x"]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_PATHS, st.none()), max_size=20))
def test_paths_split_in_bulk_as_each_is_split(paths):
    """The campaign, read once per distinct query string, is each path's own."""
    clean, campaign = split_query(pa.array(paths, pa.string()))
    assert clean.to_pylist() == [p.split("?", 1)[0] if p is not None else None for p in paths]
    assert campaign.to_pylist() == [campaign_of(p) for p in paths]
