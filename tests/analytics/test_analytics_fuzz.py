"""Hypothesis: whatever bytes a log holds, reading never raises and every line is counted; and
wherever an address stands in a line, in whatever form, none survives `anonymize` or `report`."""

from __future__ import annotations

import ipaddress

from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from privacy_scan import Needles, scan

from analytics import count_days
from analytics.cli import cli

VALID = (
    b'192.0.2.1 - - [21/Oct/2026:10:00:00 +0200] "GET /a?b=c HTTP/1.1" 200 12 '
    b'"https://www.google.com/" "Mozilla/5.0 \\"x\\" Chrome/130"'
)
pieces = st.one_of(
    st.binary(max_size=80),
    st.sampled_from(
        [VALID, b'"', b"\\", b"\\x22", b" ", b"[", b"]", b"-", b"::ffff:", b"\r", b"\x00", b"\xff"]
    ),
    st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")),
)
lines = st.lists(st.lists(pieces, max_size=6).map(b"".join), max_size=30)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=lines, trailing_newline=st.booleans())
def test_reader_never_raises(tmp_path, lines, trailing_newline):
    path = tmp_path / "fuzz.log"
    data = b"\n".join(line.replace(b"\n", b" ") for line in lines)
    if trailing_newline and data:
        data += b"\n"
    assume(not data.startswith(b"\x1f\x8b"))  # that is a (corrupt) gzip file: an error
    path.write_bytes(data)
    expected = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    counts = count_days([path], on_error=lambda message: None)
    assert counts.errors == ()
    assert counts.lines == expected
    frame = counts.frame
    requests = int(
        frame.loc[(frame["table"] == "_requests") & (frame["key"] == "requests"), "count"].sum()
    )
    assert requests + counts.malformed == expected


def _network_bits_only(ip: ipaddress._BaseAddress) -> bool:
    """Whether `ip` is its own /24 or /32 network: then its truncation shows it whole."""
    host_bits = 8 if ip.version == 4 else 96
    return int(ip) & ((1 << host_bits) - 1) == 0


addresses = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).filter(
    lambda ip: not _network_bits_only(ip) and getattr(ip, "ipv4_mapped", None) is None
)


def written_forms(ip) -> list[str]:
    """How logs and proxies write an address: plain, mapped, exploded, bracketed, with port,
    with zone, with a prefix glued on, as a Forwarded `for=`."""
    if ip.version == 4:
        return [str(ip), f"::ffff:{ip}", f"{ip}:8080", f"ip:{ip}", f'for="{ip}:4711"', f"for={ip}"]
    return [
        str(ip), ip.exploded, f"[{ip}]", f"[{ip}]:443", f"{ip}:443", f"{ip}%eth0",
        f"ip:{ip}", f'for="[{ip}]:4711"',
    ]  # fmt: skip


@st.composite
def hostile_lines(draw) -> tuple[str, set[str]]:
    """One combined line (plus X-Forwarded-For) with addresses in every field that holds text."""
    used = draw(st.lists(addresses, min_size=4, max_size=8))
    forms = [draw(st.sampled_from(written_forms(ip))) for ip in used]
    client = used[0] if used[0].version == 4 else used[0].compressed
    client = draw(st.sampled_from([str(client), f"::ffff:{client}"] if used[0].version == 4
                                  else [str(client)]))  # fmt: skip
    method = draw(st.sampled_from(["GET", "POST", "get", "\\x16\\x03\\x01", "FOO BAR"]))
    request = f"{method} /p?ip={forms[1]}&utm_campaign={forms[2]} HTTP/1.1"
    referrer = f"https://example.net/r?from={forms[3]}"
    forwarded = ", ".join(forms[4:]) or "-"
    line = (
        f'{client} - - [21/Oct/2026:10:00:00 +0200] "{request}" 200 5 "{referrer}" '
        f'"Mozilla/5.0" "{forwarded}"\n'
    )
    return line, {str(ip) for ip in used}


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=st.lists(hostile_lines(), min_size=1, max_size=5))
def test_no_address_in_any_field_or_form_survives_anonymize_or_report(tmp_path_factory, lines):
    base = tmp_path_factory.mktemp("hostile")
    log = base / "access.log"
    log.write_text("".join(text for text, _ in lines), encoding="utf-8")
    needles = Needles(set().union(*(used for _, used in lines)))
    runner = CliRunner()
    printed = []
    for args in (
        ["anonymize", str(log), "-o", str(base / "anonymised" / "access.log")],
        ["report", str(log), "--out", str(base / "report"), "--no-goaccess", "--verbose"],
    ):
        (base / "anonymised").mkdir(exist_ok=True)
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
        printed.append(result.output)
    _, hits = scan([needles], [base / "anonymised", base / "report"], printed)
    assert hits == {}
