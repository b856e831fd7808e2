"""The only place a full client IP is used: truncation, country lookup and the per-day visitor key.

What leaves this module is the truncated address, a country code and a 64-bit visitor key: keyed
SipHash-2-4 hashes of the IP and of the user agent under a random key per calendar day, mixed
into one (SipHash is a keyed pseudo-random function made for short inputs; pandas runs it over
an array in C, a few times faster than a Python loop of BLAKE2b). analytics.keydir keeps the
keys until 48 hours after their day ends, so a later run can recognise the same visitor on the
same day but nobody can after that). Query strings
(tokens, e-mail addresses) are dropped from paths and referrers, except `utm_*` parameters, which
become the campaign.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from socket import AF_INET, AF_INET6, inet_ntop, inet_pton
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analytics.distinct import map_distinct, unique_ints
from analytics.keydir import DayKeys

# Free text (X-Forwarded-For, extra fields, junk request lines) is cut into tokens at these
# characters; a token with an address hint (three dotted numbers, or two colons) is replaced by
# the truncated address it holds, or masked whole when none parses.
_TOKEN_SEPARATORS = re.compile(r"([\s,;\"'()<>=/|\\]+)")
_ADDRESS_HINT = r"\d{1,3}\.\d{1,3}\.\d{1,3}|[0-9A-Fa-f]*:[0-9A-Fa-f]*:"
_HINT = re.compile(_ADDRESS_HINT)
_ADDRESS_RUN = re.compile(r"[0-9A-Fa-f:.]+")
_QUERY = r"\?[^\s\"]*"
MASKED = "-"
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign")
_MAPPED = b"\0" * 10 + b"\xff\xff"
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"^{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}$"
_DOTTED = r"^([0-9]+)\.([0-9]+)\.([0-9]+)\.([0-9]+)$"
TRUNCATED_KEPT = 50_000  # addresses whose truncated form is remembered (IPv6 mostly)


def truncate_ip(ip: str, ipv4_prefix: int = 24, ipv6_prefix: int = 32) -> str | None:
    """The network address of `ip`'s prefix (IPv4-mapped IPv6 as IPv4); None if not an IP."""
    return truncate_ips([ip], ipv4_prefix, ipv6_prefix)[0]


def truncate_ips(ips: list[str], ipv4_prefix: int = 24, ipv6_prefix: int = 32) -> list[str | None]:
    """`truncate_ip` of each address: each parsed by the C library (`inet_pton`), the text of
    each network written once (a block's new IPv6 addresses share a few hundred networks)."""
    masks = {
        AF_INET: (1 << 32) - (1 << (32 - ipv4_prefix)),
        AF_INET6: (1 << 128) - (1 << (128 - ipv6_prefix)),
    }
    written: dict[tuple[int, int], str] = {}
    truncated = []
    for ip in ips:
        ip = ip.strip("[]")
        family = AF_INET6 if ":" in ip else AF_INET  # no other text parses in the other
        try:
            packed = inet_pton(family, ip)
        except (OSError, ValueError):  # ValueError: an embedded NUL
            truncated.append(None)
            continue
        if packed[:12] == _MAPPED:
            packed, family = packed[12:], AF_INET
        network = (family, int.from_bytes(packed, "big") & masks[family])
        if (text := written.get(network)) is None:
            text = written[network] = inet_ntop(family, network[1].to_bytes(len(packed), "big"))
        truncated.append(text)
    return truncated


@dataclass
class Clients:
    """Per row: whether the address is an IP, its truncated form, country and visitor key."""

    valid: np.ndarray
    truncated: pa.Array  # dictionary-encoded, as country
    country: pa.Array
    visitor: np.ndarray  # int64


class Anonymiser:
    """Turns full addresses into truncated ones, countries and visitor keys, once per distinct IP."""

    def __init__(
        self,
        ipv4_prefix: int = 24,
        ipv6_prefix: int = 32,
        day_keys: DayKeys | None = None,
        countries=None,
    ) -> None:
        self.ipv4_prefix, self.ipv6_prefix = ipv4_prefix, ipv6_prefix
        self.day_keys = day_keys or DayKeys()
        self.countries = countries
        self._truncated: dict[str | None, str | None] = {}  # the slow path's recent answers

    def truncate(self, ip: str) -> str | None:
        return truncate_ip(ip, self.ipv4_prefix, self.ipv6_prefix)

    def clients(self, ip: pa.Array, ua: pa.Array, day: np.ndarray) -> Clients:
        encoded = pc.dictionary_encode(ip, null_encoding="encode")
        distinct = encoded.dictionary
        ip_codes = encoded.indices.to_numpy(zero_copy_only=False)
        ips = distinct.to_pylist()
        truncated = self._truncate_distinct(distinct, ips)
        country = pa.nulls(len(ips), pa.string())
        if self.countries is not None:
            country = pa.array(
                [self.countries.country(v) if t is not None else None
                 for v, t in zip(ips, truncated.to_pylist(), strict=True)],
                pa.string(),
            )  # fmt: skip
        valid_ip = np.append(truncated.is_valid().to_numpy(zero_copy_only=False), False)
        ua = pc.dictionary_encode(ua, null_encoding="encode")
        ua_codes = ua.indices.to_numpy(zero_copy_only=False)
        # per row as codes into the distinct addresses' answers: nothing copied per row
        codes = encoded.indices
        return Clients(
            valid=valid_ip[ip_codes] if len(ip_codes) else np.zeros(0, bool),
            truncated=pa.DictionaryArray.from_arrays(codes, truncated),
            country=pa.DictionaryArray.from_arrays(codes, country),
            visitor=self._visitor_keys(day, distinct, ip_codes, ua.dictionary, ua_codes),
        )

    def _truncate_distinct(self, distinct: pa.Array, ips: list) -> pa.Array:
        """Truncated forms of distinct addresses: plain IPv4 with whole-octet prefixes in Arrow,
        the rest (IPv6, ::ffff:, odd prefixes) one by one in Python."""
        if self.ipv4_prefix % 8 == 0:
            dotted = pc.fill_null(pc.match_substring_regex(distinct, _IPV4), False)
            kept = self.ipv4_prefix // 8
            network = ".".join(f"\\{i}" for i in range(1, kept + 1)) + ".0" * (4 - kept)
            # the plain pattern is faster to rewrite with; only `dotted` rows keep its result
            masked = pc.replace_substring_regex(distinct, _DOTTED, network)
        else:
            dotted = pa.array(np.zeros(len(ips), bool))
            masked = distinct
        slow = ~dotted.to_numpy(zero_copy_only=False)
        if not slow.any():
            return masked
        done = self._truncated
        if len(done) > TRUNCATED_KEPT:  # memory stays flat however many addresses a log has
            done.clear()
        wanted = [ips[i] for i in np.flatnonzero(slow).tolist()]
        # the same IPv6 addresses come back block after block
        new = [ip for ip in wanted if ip is not None and ip not in done]
        done.update(zip(new, truncate_ips(new, self.ipv4_prefix, self.ipv6_prefix), strict=True))
        fixed = [done.get(ip) for ip in wanted]  # (None: null, no address)
        return pc.replace_with_mask(masked, pa.array(slow), pa.array(fixed, masked.type))

    def _visitor_keys(self, day, ips, ip_codes, uas, ua_codes) -> np.ndarray:
        """Keyed hashes per distinct (day, IP) and (day, UA), mixed per row into one key."""
        ip_hash = self._keyed(day, ips, ip_codes)
        ua_hash = self._keyed(day, uas, ua_codes)
        return _mix(ip_hash, ua_hash).view(np.int64)

    def _keyed(self, day: np.ndarray, values: pa.Array, codes: np.ndarray) -> np.ndarray:
        """SipHash under the day's key of each row's value (a code into the distinct `values`),
        computed once per distinct (day, value)."""
        if not len(codes):
            return np.zeros(0, np.uint64)
        first = int(day.min())
        pair = (day.astype(np.int64) - first) * (len(values) + 1) + codes
        unique, inverse = unique_ints(pair, inverse=True)
        days = unique // (len(values) + 1) + first
        which = unique % (len(values) + 1)
        strings = pc.fill_null(values, "").to_numpy(zero_copy_only=False)  # null: as ""
        digests = np.empty(len(unique), np.uint64)
        starts = np.flatnonzero(np.diff(days)) + 1  # `unique` is sorted: one run per day
        for run in np.split(np.arange(len(unique)), starts):
            key = _sip_key(self.day_keys.key(int(days[run[0]])))
            digests[run] = pd.util.hash_array(strings[which[run]], hash_key=key, categorize=False)
        return digests[inverse.reshape(-1)]

    def visitor_key(self, day: int, ip: str, ua: str) -> int:
        """The key of one request (tests and single lookups)."""
        codes = np.zeros(1, np.int64)
        days = np.array([day], np.int64)
        return int(self._visitor_keys(days, pa.array([ip]), codes, pa.array([ua]), codes)[0])

    def truncate_in_text(self, column: pa.Array) -> pa.Array:
        """Every token of free text (X-Forwarded-For, extra fields) that holds an IP address
        truncated; one that looks like an address but holds none masked whole."""
        hint = pc.match_substring_regex(column, _ADDRESS_HINT)
        if not pc.any(hint).as_py():
            return column
        rewritten = map_distinct(column, lambda text: mask_addresses(text, self.truncate))
        return pc.if_else(hint, rewritten, column)

    def scrub_text(self, column: pa.Array) -> pa.Array:
        """Text no format names (junk request lines, malformed lines): query strings dropped,
        addresses truncated."""
        return self.truncate_in_text(pc.replace_substring_regex(column, _QUERY, ""))


def mask_addresses(text: str | None, truncate=None) -> str | None:
    """`text` with each token that holds an address replaced by `truncate(address)`, and each
    that only looks like one (or every one, without `truncate`) replaced by MASKED."""
    if text is None or not _HINT.search(text):
        return text
    parts = _TOKEN_SEPARATORS.split(text)
    for i in range(0, len(parts), 2):  # odd items are the separators
        if _HINT.search(parts[i]):
            parts[i] = _truncated_in(parts[i], truncate) if truncate else MASKED
    return "".join(parts)


def _truncated_in(token: str, truncate) -> str:
    """The first IP address in a token, however wrapped (`[..]:port`, `host:port`, `ip:..`,
    `..%zone`), truncated; MASKED if none parses."""
    for run in _ADDRESS_RUN.findall(token):
        bare = run.strip(":.")
        for candidate in (run, bare, bare.rsplit(":", 1)[0]):
            truncated = truncate(candidate)
            if truncated is not None:
                return truncated
    return MASKED


def _sip_key(day_key: bytes) -> str:
    """The SipHash key of a day key, as pandas takes it: 16 characters that are 16 UTF-8 bytes
    (7 bits of each of the first 16 key bytes: 112 bits)."""
    return "".join(chr(b & 0x7F) for b in day_key[:16])


def _mix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser of two keyed hashes: one 64-bit key per (IP, UA) pair."""
    with np.errstate(over="ignore"):
        x = a ^ (b * np.uint64(0x9E3779B97F4A7C15))
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def split_query(path: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Paths without their query string, and the campaign named by `utm_*` parameters (or null)."""
    parts = pc.split_pattern(path, "?", max_splits=1)
    clean = pc.list_element(parts, 0)
    with_query = pc.equal(pc.list_value_length(parts), 2)
    utm = pc.fill_null(pc.and_(with_query, pc.match_substring(path, "utm_")), False)
    if not pc.any(utm).as_py():
        return clean, pa.nulls(len(path), pa.string())
    # A campaign depends on the query string alone: each distinct one is read once.
    campaigns = map_distinct(pc.list_element(parts.filter(utm), 1), _campaign_of_query)
    return clean, pc.replace_with_mask(pa.nulls(len(path), pa.string()), utm, campaigns)


def campaign_of(path: str | None) -> str | None:
    """`source / medium / campaign` from a path's UTM parameters."""
    if not path or "?" not in path:
        return None
    return _campaign_of_query(path.split("?", 1)[1])


def _campaign_of_query(query: str | None) -> str | None:
    params = dict(parse_qsl(query or ""))
    named = [params[k].strip() for k in UTM_KEYS if params.get(k, "").strip()]
    return mask_addresses(" / ".join(named)[:200]) or None


# Most referrers are plain `http(s)://host[:port]/path[?query]` in printable ASCII: those are cut
# by RE2, the rest (user info, IPv6 hosts, odd ports, spaces, Unicode) by urlsplit. RE2 tells
# which are plain (a match without captures runs at memory speed), the captures are taken from
# what comes before the query and fragment only (a long query slows capturing down).
# (printable ASCII is `!-~`; a path is that without `?` and `#`)
_URL_HEAD = (
    r"(?P<scheme>https?)://(?P<host>[A-Za-z0-9.-]+)(?P<port>:[1-9][0-9]{0,3})?"
    r"(?P<path>/[!-\x22$->@-~]*)?"
)
_PLAIN_URL = f"^{re.sub(r'[?]P<[a-z]+>', '?:', _URL_HEAD)}(?:[?#][!-~]*)?$"
_PLAIN_HEAD = f"^{_URL_HEAD}$"


def strip_referrer(referrer: pa.Array) -> pa.Array:
    """Referrers as scheme://host/path: no query string, no fragment, no user info (as a
    dictionary array: codes into the distinct referrers)."""
    # a log repeats its referrers: each distinct one is cut once (dictionary-encoded result)
    encoded = pc.dictionary_encode(referrer, null_encoding="encode")
    return pa.DictionaryArray.from_arrays(encoded.indices, _strip_distinct(encoded.dictionary))


def _strip_distinct(referrer: pa.Array) -> pa.Array:
    plain = pc.fill_null(pc.match_substring_regex(referrer, _PLAIN_URL), False)
    head = referrer
    for mark in "?#":
        head = pc.list_element(pc.split_pattern(head, mark, max_splits=1), 0)
    scheme, host, port, path = pc.extract_regex(head, _PLAIN_HEAD).flatten()
    fast = pc.binary_join_element_wise(scheme, "://", pc.utf8_lower(host), port, path, "")
    rest = referrer.filter(pc.invert(plain)).to_pylist()
    slow = pa.array([_strip_url(r) for r in rest], pa.string())
    return pc.replace_with_mask(fast, pc.invert(plain), slow)


def _strip_url(url: str | None) -> str | None:
    if url is None or url in ("", "-"):
        return url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "-"
    if not parts.scheme or not host:
        return url.split("?", 1)[0].split("#", 1)[0]
    return f"{parts.scheme}://{host}{port}{parts.path}"
