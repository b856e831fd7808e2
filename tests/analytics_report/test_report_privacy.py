"""THE invariant, read as an attacker reads it: nothing the tool writes or prints gives an address back.

Every command the owner runs (report with and without --state, the nightly incremental run, a
rebuild from the state alone, --verbose, anonymize to text and .gz, purge-logs, the demo) runs on
logs with thousands of distinct IPv4, IPv6 and IPv4-mapped clients, X-Forwarded-For lists and
hostile lines. Then every byte written (packed files unpacked, parquet read as a table) and
everything printed is searched for every address of the input in every textual form, and for any
digest of the raw input (tests/privacy_scan.py).
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import ipaddress
import os
import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from geoip_db import build_country_db
from privacy_scan import ALGORITHMS, Digests, Needles, scan

from analytics.cli import cli
from analytics.sample import generate_log

# Recent days, so the state folder still holds the open days' keys and visitor data.
START = dt.date.today() - dt.timedelta(days=2)
# Lines an attacker or a broken client sends: addresses where no format names them, junk request
# lines with query strings, a line no format parses; (line, the addresses in it).
HOSTILE = [
    (
        '{ip} - - [{t}] "GET / HTTP/1.1" 200 5 "-" "curl/8" "ip:2001:db8:77:1::7, '
        '2001:db8:78:1:2:3:4:5:443"',
        {"2001:db8:77:1::7", "2001:db8:78:1:2:3:4:5"},
    ),
    (
        '{ip} - - [{t}] "GET / HTTP/1.1" 200 5 "-" "curl/8" "for=\\x22[2001:db8:79::9]:4711\\x22, '
        '198.51.100.201:8080, [2001:db8:7a::1]"',
        {"2001:db8:79::9", "198.51.100.201", "2001:db8:7a::1"},
    ),
    (
        '{ip} - - [{t}] "\\x16\\x03\\x01?ip=198.51.100.202" 400 150 "-" "-" "-"',
        {"198.51.100.202"},
    ),
    ('{ip} - - [{t}] "get /x?for=198.51.100.203 HTTP/1.1" 400 150 "-" "-" "-"', {"198.51.100.203"}),
    (
        '{ip} - - [{t}] "GET /?utm_source=news&utm_campaign=198.51.100.204 HTTP/1.1" 200 5 '
        '"https://example.net/?u=2001:db8:7b::2" "Mozilla/5.0" "-"',
        {"198.51.100.204", "2001:db8:7b::2"},
    ),
    ("{ip} this is no log line [{t}] at all", set()),
]


def hostile_lines(day: dt.date) -> tuple[str, set[str]]:
    """The hostile lines on `day`, each from its own client; and every address they hold."""
    text, addresses = "", set()
    for i, (template, inside) in enumerate(HOSTILE):
        ip = f"203.0.113.{100 + i}" if i % 2 else f"2001:db8:7c::{i + 1}"
        when = dt.datetime.combine(day, dt.time(12, i), dt.UTC).strftime("%d/%b/%Y:%H:%M:%S %z")
        text += template.format(ip=ip, t=when) + "\n"
        addresses |= inside | {ip}
    return text, addresses


def client_addresses(log: Path) -> set[str]:
    """Every address in a generated log: the client field and each X-Forwarded-For entry."""
    found: set[str] = set()
    for line in log.read_text(encoding="utf-8").splitlines():
        found.add(line.split(" ", 1)[0])
        forwarded = line.rsplit('"', 2)[-2]
        if forwarded != "-":
            found.update(part.strip() for part in forwarded.split(","))
    return {a for a in found if _is_ip(a)}


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class Shell:
    """What the demo task needs of invoke's context: run a command (here: capture its output)."""

    def run(self, command: str) -> subprocess.CompletedProcess:
        return subprocess.run(command, shell=True, capture_output=True, text=True, check=True)


def raw_stream(path: Path) -> bytes:
    raw = path.read_bytes()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Run every command the owner runs once; return what was read, written and printed."""
    base = tmp_path_factory.mktemp("privacy")
    log = base / "access.log"
    more = base / "more.log"
    # Thousands of each kind: IPv4, IPv6, IPv4-mapped, plus X-Forwarded-For addresses.
    generate_log(
        log, 40_000, seed=21, start=START, days=2, ipv6_share=0.4, mapped_share=0.3, xff=True
    )
    generate_log(
        more,
        10_000,
        seed=22,
        start=START + dt.timedelta(days=2),
        days=1,
        ipv6_share=0.4,
        mapped_share=0.3,
        xff=True,
    )
    addresses = client_addresses(log) | client_addresses(more)
    hostile, inside = hostile_lines(START + dt.timedelta(days=2))
    with open(more, "a", encoding="utf-8") as f:
        f.write(hostile)
    addresses |= inside
    geoip = build_country_db(
        base / "country.mmdb", {"80.0.0.0/4": "NL", "2a02::/16": "NL", "31.0.0.0/8": "BE"}
    )
    out, state, anon = base / "stats", base / "state", base / "anonymised"
    rebuilt, other_masks, verbose = base / "rebuilt", base / "other-masks", base / "verbose"
    anon.mkdir()
    runner = CliRunner()
    results = []

    def invoke(*args: str):
        result = runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)
        results.append(result.output)  # click 8.2+: stdout and stderr together
        assert result.exit_code == 0, result.output
        return result

    keys = base / "run"  # the runtime folder for the day keys (tmpfs in production)
    report = ["report", "--out", out, "--state", state, "--keys-dir", keys, "--geoip", geoip]
    invoke(*report, log)
    # The nightly run: the log grew; only the new lines are read.
    with open(log, "a", encoding="utf-8") as f:
        f.write(more.read_text(encoding="utf-8"))
    invoke(*report, "--lang", "en", log)
    invoke("report", log, "--out", verbose, "--verbose", "--no-goaccess")
    invoke("anonymize", log, "-o", anon / "access.log")
    invoke("anonymize", log, more, "-o", anon / "access.log.gz")
    # After the raw logs are gone: the report rebuilt from the state alone.
    invoke("report", "--out", rebuilt, "--state", state, "--keys-dir", keys, "--no-goaccess")
    # Masks other than the default ones.
    invoke("report", log, "--out", other_masks, "--ipv4-prefix", "16", "--ipv6-prefix", "16")
    # The nightly purge: old raw logs and the visitor keys of closed days.
    old = base / "old-logs"
    old.mkdir()
    (old / "access.log.9.gz").write_bytes(gzip.compress(more.read_bytes()))
    os.utime(old / "access.log.9.gz", (0, 0))
    # The owner's summary mails, from the state and from a log, in both languages.
    mails = base / "mails"
    after = ["--today", (START + dt.timedelta(days=9)).isoformat(), "--mail-dir", mails]
    invoke("summary", "--state", state, "--keys-dir", keys, *after)
    invoke("summary", log, "--period", "month", "--lang", "en", *after)
    invoke("purge-logs", str(old / "access.log*"), "--state", state, "--keys-dir", keys)
    # The demo's report, as `make demo` builds it.
    import tasks  # the project root is on sys.path under `python -m pytest`

    demo_log, demo_out, demo_mail = base / "demo.log", base / "demo-stats", base / "demo-mail"
    demo_mail.mkdir()
    for command in tasks.demo_stats(Shell(), demo_log, demo_out, demo_mail):
        results += [command.stdout, command.stderr]
    addresses |= client_addresses(demo_log)
    streams = [raw_stream(p) for p in (log, more, demo_log)]
    return {
        "addresses": addresses,
        "streams": streams,
        "roots": [out, state, anon, rebuilt, other_masks, verbose, demo_out, mails, demo_mail],
        "printed": results,
        "out": out,
        "state": state,
    }


@pytest.fixture(scope="module")
def needles(run):
    return Needles(run["addresses"])


@pytest.fixture(scope="module")
def digests(run):
    return Digests(run["streams"], run["addresses"])


def test_the_input_has_thousands_of_each_kind_of_client(run):
    addresses = run["addresses"]
    v4 = {a for a in addresses if "." in a and ":" not in a}
    mapped = {a for a in addresses if a.startswith("::ffff:")}
    v6 = addresses - v4 - mapped
    assert len(v4) > 2_000 and len(v6) > 2_000 and len(mapped) > 1_000
    assert any("::" in a for a in v6)  # compressed forms


def test_the_outputs_are_all_there(run):
    out = run["out"]
    for name in ("index.html", "stats.json", "goaccess.html", "pages.csv", "daily.csv"):
        assert (out / name).is_file(), name
    assert any(run["roots"][1].iterdir()), "the state folder is empty"
    assert (run["roots"][2] / "access.log").stat().st_size > 1_000_000
    assert (run["roots"][2] / "access.log.gz").read_bytes()[:2] == b"\x1f\x8b"
    assert (run["roots"][3] / "index.html").is_file()
    assert len(list(run["roots"][7].glob("*.eml"))) == 2  # the summary mails
    assert len(list(run["roots"][8].glob("*.eml"))) == 1  # the demo's


def test_the_scan_looks_at_real_host_data(run):
    """GoAccess's hosts panel and the anonymised copy hold addresses: truncated ones."""
    dashboard = (run["out"] / "goaccess.js").read_text(encoding="utf-8")  # the data it shows
    assert re.search(r'"data": "\d+\.\d+\.\d+\.0"', dashboard)
    assert re.search(r'"data": "[0-9a-f]+:[0-9a-f]+::"', dashboard)  # IPv6 /32
    wider = (run["roots"][4] / "goaccess.js").read_text(encoding="utf-8")
    assert re.search(r'"data": "\d+\.\d+\.0\.0"', wider)
    copy = (run["roots"][2] / "access.log").read_text(encoding="utf-8")
    assert re.search(r"^\d+\.\d+\.\d+\.0 - - ", copy, re.M)


def test_the_scanner_finds_every_form_it_looks_for(needles):
    v4 = min(needles.ipv4)  # not the first of the set: that changes with the hash seed
    v6 = min(a for a in needles.ipv6 if not a.startswith(("::ffff", "0000")))
    exploded = ipaddress.ip_address(v6).exploded
    for text in (f"x{v4}9y", f"1{v4}", f"{v4}:8080"):
        found = needles.find(text.encode())
        # Another client's address inside these digits (84.233.94.2 in 84.233.94.203) is a hit
        # too, a true one.
        assert v4 in found and all(hit in text for hit in found), (text, found)
    assert needles.find(f"::FFFF:{v4}".encode()) >= {v4, f"::ffff:{v4}"}
    assert v6 in needles.find(f'"{v6.upper()}"'.encode())
    assert v6 in needles.find(f"[{v6}]:443".encode())
    assert v6 in needles.find(f"ip:{v6}%eth0".encode())
    assert exploded in needles.find(exploded.encode())
    assert needles.find(gzip.compress(v4.encode())) == set()  # why readable_forms unpacks


@pytest.mark.parametrize("form", ["raw", "hex", "HEX", "base64", "base64url"])
@pytest.mark.parametrize("algo", ["md5", "sha1", "sha256", "sha512", "blake2b", "blake2s"])
def test_the_scanner_finds_a_planted_digest(run, digests, tmp_path, algo, form):
    """The control: a digest of raw input planted in a file the tool could write is found."""
    stream = run["streams"][0]
    planted = {
        "line": stream.splitlines(keepends=True)[123],
        "head": b"".join(stream.splitlines(keepends=True)[:7]),
        "bytes": stream[:1024],
    }
    for what, data in planted.items():
        digest = ALGORITHMS[algo](data).digest()
        text = {
            "raw": digest,
            "hex": digest.hex().encode(),
            "HEX": digest.hex().upper().encode(),
            "base64": base64.b64encode(digest),
            "base64url": base64.urlsafe_b64encode(digest).rstrip(b"="),
        }[form]
        (tmp_path / "files.json").write_bytes(b'[{"name": "x", "head": "' + text + b'"}]')
        _, hits = scan([digests], [tmp_path], [])
        assert hits, f"a {form} {algo} of the {what} was not found"


def test_the_digest_set_covers_lines_heads_and_addresses(run, digests):
    lines = sum(len(s.splitlines()) for s in run["streams"])
    assert len(digests) > (2 * lines + len(run["addresses"])) * len(ALGORITHMS) * len(Digests.FORMS)


def test_no_full_ip_and_no_digest_of_raw_input_in_any_byte_written_or_printed(
    run, needles, digests
):
    files, hits = scan([needles, digests], run["roots"], run["printed"])
    assert files >= 20
    assert hits == {}, {where: sorted(found)[:5] for where, found in hits.items()}


def test_the_verbose_run_shows_malformed_lines(run):
    """The verbose output was scanned: it names the malformed lines, anonymised."""
    assert any("malformed line in" in text for text in run["printed"])
