"""What an attacker looks for in what the analytics tool writes and prints.

`Needles` finds client addresses in every textual form; `Digests` finds any digest (md5, sha1,
sha2, sha3, blake2; raw, hex or base64) of the raw input: each line, the first N lines, the first K
bytes, each address. Digests are matched by their first 16 bytes (as written), with numpy over
every offset of the data, so thousands of clients scan in seconds.
"""

from __future__ import annotations

import base64
import email
import email.policy
import gzip
import hashlib
import ipaddress
import re
import sqlite3
from pathlib import Path

import numpy as np

IPV4_RUN = re.compile(rb"[0-9.]+")
IPV6_RUN = re.compile(rb"[0-9a-f:.]*:[0-9a-f:.]*")
ALGORITHMS = {
    "md5": hashlib.md5,
    "sha1": hashlib.sha1,
    "sha224": hashlib.sha224,
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
    "sha512": hashlib.sha512,
    "sha3_256": hashlib.sha3_256,
    "blake2b": hashlib.blake2b,
    "blake2b-256": lambda data: hashlib.blake2b(data, digest_size=32),
    "blake2s": hashlib.blake2s,
}
HEAD_LINES = 64
HEAD_BYTES = sorted({*(2**i for i in range(4, 21)), 100, 500, 1000, 5000, 10_000, 100_000})
_MIX = np.uint64(0x9E3779B97F4A7C15)


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
        """Needles that occur anywhere in data (also inside longer runs of digits; brackets,
        ports and zones around an address do not hide it)."""
        hits: set[str] = set()
        for run in set(IPV4_RUN.findall(data)):  # logs repeat: each distinct run once
            parts = run.decode().split(".")
            for i in range(len(parts) - 3):
                first, second, third, last = parts[i : i + 4]
                for a in range(1, 4):
                    for b in range(1, 4):
                        candidate = f"{first[-a:]}.{second}.{third}.{last[:b]}"
                        if candidate in self.ipv4:
                            hits.add(candidate)
        for run in set(IPV6_RUN.findall(data.lower())):
            text = run.decode()
            for length in self.ipv6_lengths:
                for start in range(len(text) - length + 1):
                    if text[start : start + length] in self.ipv6:
                        hits.add(text[start : start + length])
        return hits


def _keys(prefixes: bytes) -> np.ndarray:
    """One 64-bit key per 16-byte needle prefix in `prefixes` (concatenated)."""
    words = np.frombuffer(prefixes, "<u8").reshape(-1, 2)
    with np.errstate(over="ignore"):
        return words[:, 0] ^ (words[:, 1] * _MIX)


class Digests:
    """Every digest of the raw input an attacker could match, keyed by its first 16 bytes as
    written (raw, hex, HEX, base64, base64url)."""

    FORMS = ("raw", "hex", "HEX", "base64", "base64url")
    FILTER_BITS = 25

    def __init__(self, streams: list[bytes], addresses: set[str]) -> None:
        inputs = list(self._inputs(streams, addresses))
        self.inputs = [what for what, _ in inputs]
        digests = [make(data).digest() for _, data in inputs for make in ALGORITHMS.values()]
        first8 = b"".join(d[:8] for d in digests)
        first12 = b"".join(d[:12] for d in digests)
        written = {  # every form's first 16 bytes, for all digests at once
            "raw": b"".join(d[:16] for d in digests),
            "hex": first8.hex().encode(),
            "HEX": first8.hex().upper().encode(),
            "base64": base64.b64encode(first12),  # 12 bytes: 16 characters, no padding
            "base64url": base64.urlsafe_b64encode(first12),
        }
        keys = np.stack([_keys(written[form]) for form in self.FORMS], axis=1).reshape(-1)
        self.order = np.argsort(keys, kind="stable")
        self.keys = keys[self.order]
        # Two filters on two slices of a key's bits (a Bloom filter with two hashes): most
        # offsets of the data are ruled out before the binary search over all keys.
        self.filters = np.zeros((2, 1 << self.FILTER_BITS), bool)
        for which in (0, 1):
            self.filters[which, self._slot(self.keys, which)] = True

    @classmethod
    def _slot(cls, keys: np.ndarray, which: int) -> np.ndarray:
        """Bits 64-25..64 (which=0) or 64-50..64-25 (which=1) of each key."""
        shifted = keys >> np.uint64(64 - (which + 1) * cls.FILTER_BITS)
        return shifted & np.uint64((1 << cls.FILTER_BITS) - 1)

    @staticmethod
    def _inputs(streams: list[bytes], addresses: set[str]):
        for n, stream in enumerate(streams):
            lines = stream.splitlines(keepends=True)
            for i, line in enumerate(lines):
                yield f"line {i + 1} of input {n}", line
                yield f"line {i + 1} of input {n} without its newline", line.rstrip(b"\r\n")
            for count in range(2, min(HEAD_LINES, len(lines)) + 1):
                yield f"the first {count} lines of input {n}", b"".join(lines[:count])
            for size in HEAD_BYTES:
                if size < len(stream):
                    yield f"the first {size} bytes of input {n}", stream[:size]
        for address in sorted(addresses):
            yield f"address {address}", address.encode()

    def __len__(self) -> int:
        return len(self.keys)

    def name(self, index: int) -> str:
        which, form = divmod(index, len(self.FORMS))
        what, algo = divmod(which, len(ALGORITHMS))
        return f"{self.FORMS[form]} {list(ALGORITHMS)[algo]} of {self.inputs[what]}"

    def find(self, data: bytes) -> set[str]:
        """Digests whose first 16 bytes (as written) occur at any offset of `data`."""
        hits: set[str] = set()
        for align in range(8):
            words = np.frombuffer(data[align : align + (len(data) - align) // 8 * 8], "<u8")
            if len(words) < 2:
                continue
            with np.errstate(over="ignore"):
                keys = words[:-1] ^ (words[1:] * _MIX)
            for which in (0, 1):
                keys = keys[self.filters[which, self._slot(keys, which)]]
            start = np.searchsorted(self.keys, keys, side="left")
            found = self.keys[np.minimum(start, len(self.keys) - 1)] == keys
            start, keys = start[found], keys[found]
            end = np.searchsorted(self.keys, keys, side="right")
            for first, last in zip(start.tolist(), end.tolist(), strict=True):
                hits.update(self.name(int(i)) for i in self.order[first:last])
        return hits


def readable_forms(path: Path) -> list[bytes]:
    """The bytes of a file, plus what a program would read out of it if it is packed."""
    raw = path.read_bytes()
    forms = [raw]
    if raw[:2] == b"\x1f\x8b":
        forms.append(gzip.decompress(raw))
    if raw[:4] == b"PAR1":
        import pyarrow.parquet as pq

        cells = []
        for column in pq.read_table(path).columns:
            for value in column.to_pylist():
                cells.append(value if isinstance(value, bytes) else str(value).encode())
        forms.append(b"\n".join(cells))
    if path.suffix == ".eml":  # what a mail program shows: every part decoded
        mail = email.message_from_bytes(raw, policy=email.policy.default)
        forms += [part.get_content().encode() for part in mail.walk() if not part.is_multipart()]
        forms.append(str(mail["Subject"]).encode())
    if raw[:16] == b"SQLite format 3\x00":
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            forms.append("\n".join(db.iterdump()).encode())
    return forms


def scan(finders: list, roots: list[Path], printed: list[str]) -> tuple[int, dict[str, set[str]]]:
    """Run every finder over every file under `roots` (packed ones unpacked) and each text
    printed; return the number of files and what was found where."""
    files, hits = 0, {}
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            files += 1
            for form in readable_forms(path):
                for finder in finders:
                    found = finder.find(form)
                    if found:
                        hits.setdefault(str(path), set()).update(found)
    for i, text in enumerate(printed):
        for finder in finders:
            found = finder.find(text.encode())
            if found:
                hits.setdefault(f"output of command {i}", set()).update(found)
    return files, hits
