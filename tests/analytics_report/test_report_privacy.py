"""THE invariant: no file the tool writes holds a full client IP from its input.

Every command runs on a generated log with thousands of distinct IPv4, IPv6 and IPv4-mapped
clients and X-Forwarded-For fields; then every byte written (report, CSVs, JSON, GoAccess
dashboard, state, anonymised copy, and what the commands printed) is searched for every address
of the input, in every textual form: as logged, IPv4-mapped, compressed and exploded IPv6.
"""

from __future__ import annotations

import datetime as dt
import gzip
import ipaddress
import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from geoip_db import build_country_db

from analytics.cli import cli
from analytics.sample import generate_log

# Recent days, so the state folder still holds the open days' keys and visitor data.
START = dt.date.today() - dt.timedelta(days=2)
ADDRESS_IN_LOG = re.compile(r"[0-9A-Fa-f:.]*[:.][0-9A-Fa-f:.]*")
IPV4_RUN = re.compile(rb"[0-9.]+")
IPV6_RUN = re.compile(rb"[0-9a-f:.]*:[0-9a-f:.]*")


def client_addresses(log: Path) -> set[str]:
    """Every address in the log: the client field and each X-Forwarded-For entry."""
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


class Needles:
    """The textual forms of the input's addresses, and a scanner that finds any of them."""

    def __init__(self, addresses: set[str]) -> None:
        self.ipv4: set[str] = set()
        self.ipv6: set[str] = set()
        for text in addresses:
            ip = ipaddress.ip_address(text)
            if ip.version == 6 and ip.ipv4_mapped is not None:
                ip = ip.ipv4_mapped
            if ip.version == 4:
                self.ipv4.add(str(ip))
                mapped = ipaddress.IPv6Address(f"::ffff:{ip}")
                self.ipv6.update({mapped.compressed, mapped.exploded, f"::ffff:{ip}"})
            else:
                self.ipv6.update(
                    {
                        ip.compressed,
                        ip.exploded,
                        ":".join(f"{int(g, 16):x}" for g in ip.exploded.split(":")),
                    }
                )
        self.ipv6_lengths = sorted({len(n) for n in self.ipv6})

    def find(self, data: bytes) -> set[str]:
        """Needles that occur anywhere in data (also inside longer runs of digits)."""
        hits: set[str] = set()
        for run in IPV4_RUN.findall(data):
            parts = run.decode().split(".")
            for i in range(len(parts) - 3):
                first, second, third, last = parts[i : i + 4]
                for a in range(1, 4):
                    for b in range(1, 4):
                        candidate = f"{first[-a:]}.{second}.{third}.{last[:b]}"
                        if candidate in self.ipv4:
                            hits.add(candidate)
        for run in IPV6_RUN.findall(data.lower()):
            text = run.decode()
            for length in self.ipv6_lengths:
                for start in range(len(text) - length + 1):
                    if text[start : start + length] in self.ipv6:
                        hits.add(text[start : start + length])
        return hits


def readable_forms(path: Path) -> list[bytes]:
    """The bytes of a file, plus what a program would read out of it if it is packed."""
    raw = path.read_bytes()
    forms = [raw]
    if raw[:2] == b"\x1f\x8b":
        forms.append(gzip.decompress(raw))
    if raw[:4] == b"PAR1":
        import pyarrow.parquet as pq

        forms.append(str(pq.read_table(path).to_pylist()).encode())
    if raw[:16] == b"SQLite format 3\x00":
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            forms.append("\n".join(db.iterdump()).encode())
    return forms


def scan(needles: Needles, roots: list[Path], printed: list[str]) -> tuple[int, dict[str, set]]:
    files, hits = 0, {}
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            files += 1
            for form in readable_forms(path):
                found = needles.find(form)
                if found:
                    hits.setdefault(str(path), set()).update(found)
    for i, text in enumerate(printed):
        found = needles.find(text.encode())
        if found:
            hits[f"output of command {i}"] = found
    return files, hits


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Run every command once; return what was read, written and printed."""
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
    geoip = build_country_db(
        base / "country.mmdb", {"80.0.0.0/4": "NL", "2a02::/16": "NL", "31.0.0.0/8": "BE"}
    )
    out, state, anon = base / "stats", base / "state", base / "anonymised"
    rebuilt, other_masks = base / "rebuilt", base / "other-masks"
    anon.mkdir()
    runner = CliRunner()
    results = []

    def invoke(*args: str):
        result = runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)
        results.append(result)
        assert result.exit_code == 0, result.output
        return result

    keys = base / "run"  # the runtime folder for the day keys (tmpfs in production)
    report = ["report", "--out", out, "--state", state, "--keys-dir", keys, "--geoip", geoip]
    invoke(*report, log)
    # The nightly run: the log grew; only the new lines are read.
    with open(log, "a", encoding="utf-8") as f:
        f.write(more.read_text(encoding="utf-8"))
    invoke(*report, "--lang", "en", log)
    invoke("anonymize", log, "-o", anon / "access.log")
    invoke("anonymize", log, more, "-o", anon / "access.log.gz")
    # After the raw logs are gone: the report rebuilt from the state alone.
    invoke("report", "--out", rebuilt, "--state", state, "--keys-dir", keys, "--no-goaccess")
    # Masks other than the default ones.
    invoke("report", log, "--out", other_masks, "--ipv4-prefix", "16", "--ipv6-prefix", "32")
    printed = [r.output for r in results]  # click 8.2+: stdout and stderr together
    addresses = client_addresses(log)
    return {
        "addresses": addresses,
        "roots": [out, state, anon, rebuilt, other_masks],
        "printed": printed,
        "out": out,
    }


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


def test_the_scan_looks_at_real_host_data(run):
    """GoAccess's hosts panel and the anonymised copy hold addresses: truncated ones."""
    dashboard = (run["out"] / "goaccess.js").read_text(encoding="utf-8")  # the data it shows
    assert re.search(r'"data": "\d+\.\d+\.\d+\.0"', dashboard)
    assert re.search(r'"data": "[0-9a-f]+:[0-9a-f]+:[0-9a-f]+::"', dashboard)
    wider = (run["roots"][4] / "goaccess.js").read_text(encoding="utf-8")
    assert re.search(r'"data": "\d+\.\d+\.0\.0"', wider)
    copy = (run["roots"][2] / "access.log").read_text(encoding="utf-8")
    assert re.search(r"^\d+\.\d+\.\d+\.0 - - ", copy, re.M)


def test_the_scanner_finds_every_form_it_looks_for(run):
    needles = Needles(run["addresses"])
    v4 = next(iter(needles.ipv4))
    v6 = next(a for a in needles.ipv6 if not a.startswith(("::ffff", "0000")))
    exploded = ipaddress.ip_address(v6).exploded
    assert needles.find(f"x{v4}9y".encode()) == {v4}
    assert needles.find(f"1{v4}".encode()) == {v4}
    assert needles.find(f"::FFFF:{v4}".encode()) >= {v4, f"::ffff:{v4}"}
    assert v6 in needles.find(f'"{v6.upper()}"'.encode())
    assert exploded in needles.find(exploded.encode())
    assert needles.find(gzip.compress(v4.encode())) == set()  # why readable_forms unpacks


def test_no_full_ip_in_any_output_byte(run):
    needles = Needles(run["addresses"])
    files, hits = scan(needles, run["roots"], run["printed"])
    assert files >= 15
    assert hits == {}
