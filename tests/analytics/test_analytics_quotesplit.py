"""The combined format split at quotes must decide and capture exactly what its regex does."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics import quotesplit, times
from analytics.formats import get_format
from analytics.read import _extract, split_lines

COMBINED = get_format("combined")
# Pieces that move quotes, spaces, escapes and line ends around a well-formed line.
FRAGMENT = st.sampled_from(
    ['"', "\\", '\\"', " ", "-", "[", "]", "\r", "x", "200", "1234", "GET / HTTP/1.1", "é"]
)
PLAIN = st.sampled_from(["", "-", "x y", "GET / HTTP/1.1", "Mozilla/5.0 (X11; Linux)", "[a]"])
TEXT = st.one_of(PLAIN, st.lists(FRAGMENT, max_size=4).map("".join))
GOOD_TIME = "21/Oct/2026:10:00:00 +0200"
# The time, and the time with any one character wrong (a digit, a letter, a separator).
TIME = st.one_of(
    st.sampled_from([GOOD_TIME, "21/oct/2026:10:00:00 -0200"]),
    st.sampled_from(
        ["21/Oct/2026:10:00:00", "bad"]
        + [GOOD_TIME[:i] + c + GOOD_TIME[i + 1 :] for i in range(len(GOOD_TIME)) for c in "x0/ :+"]
    ),
)


@st.composite
def lines(draw) -> str:
    ip, ident, user, request, status, size, referrer, ua, rest = (draw(TEXT) for _ in range(9))
    status = draw(st.sampled_from(["200", "404", "2000", status]))
    size = draw(st.sampled_from(["512", "-", "", size]))
    between = draw(st.sampled_from([" ", " ", "", "  ", "x", " x "]))  # referrer and agent
    line = (
        f'{ip or "192.0.2.1"} {ident or "-"} {user or "-"} [{draw(TIME)}] "{request}" {status} '
        f'{size} "{referrer}"{between}"{ua}"{rest}'
    )
    return line + draw(st.sampled_from(["\n", "\r\n", "", "\n\r"]))


@st.composite
def near_misses(draw) -> str:
    """A well-formed line, or one with a single part wrong: what only the checks around the
    quotes can tell apart."""
    parts = {
        "ip": "192.0.2.1",
        "before": " - - [",
        "time": GOOD_TIME,
        "after": '] "',
        "request": "GET / HTTP/1.1",
        "status": '" 200 ',
        "size": "512",
        "referrer": ' "https://example.com/"',
        "between": " ",
        "ua": '"Mozilla/5.0"',
    }
    wrong = draw(st.sampled_from([None, "time", "time", "time", *parts]))
    if wrong == "time":  # one character of it: a digit, letter, separator or the zone's sign
        i = draw(st.integers(0, len(GOOD_TIME) - 1))
        parts["time"] = GOOD_TIME[:i] + draw(st.sampled_from("x0/ :+-")) + GOOD_TIME[i + 1 :]
    elif wrong is not None:
        parts[wrong] = draw(st.sampled_from(["", " ", "x", "0", "-", '"', "[", parts[wrong][:-1]]))
    return "".join(parts.values()) + "\n"


def compare(text: str) -> None:
    block = text.encode()
    array = split_lines(block)
    ok, columns, (utc, offset) = quotesplit.parse(array, COMBINED, _extract)
    want_ok, want = _extract(array, COMBINED)
    assert ok.tolist() == want_ok.tolist()
    rows = np.flatnonzero(ok)
    for name, column in want.items():
        assert columns[name].take(rows).to_pylist() == column.take(rows).to_pylist(), name
    want_utc, want_offset = times.from_column(want["time"])
    np.testing.assert_array_equal(utc[rows], want_utc[rows])
    np.testing.assert_array_equal(offset[rows], want_offset[rows])


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(lines(), near_misses()), min_size=1, max_size=8))
def test_split_matches_the_regex(generated):
    compare("".join(line if line.endswith("\n") else line + "\n" for line in generated))


def test_quote_in_user_field_and_escapes_take_the_regex_path(line):
    tricky = [
        '192.0.2.1 - "x [21/Oct/2026:10:00:00 +0200] "GET /] " 200 5 "-" "UA"\n',
        '192.0.2.1 - us"er [21/Oct/2026:10:00:00 +0200] "GET / HTTP/1.1" 200 5 "-" "UA"\n',
        line(ua='Mozilla \\"quoted\\" agent'),
        line(ua="Mozilla/5.0") + line(ua="curl/8.0").replace("\n", ' "extra" "-"\n'),
        '192.0.2.1 - - [21/Oct/2026:10:00:00 +0200] "GET / HTTP/1.1" 200 5 "-" "UA"\r\r\n',
        '192.0.2.1 - - [21/Oct/2026:10:00:00 +0200] "GET / HTTP/1.1" 2000 5 "-" "UA"\n',
        '192.0.2.1 - - [21/Oct/2026:10:00:00 +0200] "GET / HTTP/1.1" 200  "-" "UA"\n',
        '192.0.2.1 - - [21/Oct/2026:10:00:00 +0200] "GET / HTTP/1.1" 200 5 "-"  "UA"\n',
        '192.0.2.1 - - [21/Oct/2026:10:00:00 +0200] "GET / HTTP/1.1" 200 5 "-" "UA" x\ry\n',
        '192.0.2.1 - - [21/Oct/2026:10:00:00] "GET / HTTP/1.1" 200 5 "-" "UA"\n',
        line(ua="Mozilla/5.0"),
    ]
    compare("".join(tricky))


def test_every_size_length_and_every_wrong_character_in_it():
    """The size is checked eight bytes at a time, with a mask per length: lengths 0 to 20,
    each with any one character a non-digit (bytes just below and above the digits too)."""
    sizes = ["-", "--", "0-"]
    for n in range(21):
        digits = "1234567890" * 2 + "1"
        sizes.append(digits[:n])
        sizes += [digits[:i] + c + digits[i + 1 : n] for i in range(n) for c in "/:a -"]
    status = ["200", "20:", "/00", "2 0", "2000", "20"]
    lines = [
        f'192.0.2.1 - - [21/Oct/2026:10:00:00 +0200] "GET / HTTP/1.1" {s} {size} "-" "UA"\n'
        for size in sizes
        for s in status
    ]
    compare("".join(lines))


def test_nginx_escapes_stay_on_the_split_path(line):
    """nginx writes `\\xHH` for a quote and for bytes outside printable ASCII: the quotes stay
    where they are, so those lines are split (only a quote after a backslash, Apache's `\\"`,
    sends a line to the regex), with the regex's answers."""
    escaped = [
        line(request="GET /caf\\xC3\\xA9?q=\\x22a\\x22 HTTP/1.1"),
        line(ua="Mozilla/5.0 \\x22quoted\\x22 \\\\ agent"),
        line(referrer="https://example.com/\\xE2\\x82\\xAC"),
    ]
    text = "".join(escaped)
    compare(text)
    array = split_lines(text.encode())
    offsets, data, _ = quotesplit._buffers(array)
    rows, _ = quotesplit._six_quotes(data, offsets, text.encode())
    assert rows.tolist() == [0, 1, 2]
    apache = line(ua='Mozilla \\"quoted\\" agent')
    offsets, data, _ = quotesplit._buffers(split_lines(apache.encode()))
    assert quotesplit._six_quotes(data, offsets, apache.encode())[0].tolist() == []
