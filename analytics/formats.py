"""Access-log formats as nginx `log_format` strings, compiled to one RE2 regex each, and detection.

Every format is a list of tokens: literal text or an nginx `$variable`. The regex captures the
variables the pipeline uses; the same tokens write an anonymised line back in the same format
(variables the pipeline does not know are written as "-", since they may name a person).
Quoted values accept Apache's `\\"` and nginx's `\\x22` escapes, so a quote inside a user agent
never splits a field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

# A quoted value: anything but a quote, or a backslash escape (Apache `\"`, nginx `\x22`).
QUOTED = r'(?:[^"\\]|\\.)*'
TIME_LOCAL = r"[0-9]{2}/[A-Za-z]{3}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}"
TIME_ISO = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:[+-][0-9]{2}:[0-9]{2}|Z)"

# nginx variable -> (field the pipeline reads, fixed pattern or None to derive from context).
VARIABLES: dict[str, tuple[str, str | None]] = {
    "remote_addr": ("ip", None),
    "remote_ident": ("ident", None),
    "remote_user": ("user", None),
    "time_local": ("time", TIME_LOCAL),
    "time_iso8601": ("time_iso", TIME_ISO),
    "request": ("request", None),
    "status": ("status", "[0-9]{3}"),
    "body_bytes_sent": ("bytes", "[0-9]+|-"),
    "bytes_sent": ("bytes", "[0-9]+|-"),
    "http_referer": ("referrer", None),
    "http_user_agent": ("ua", None),
    "host": ("vhost", None),
    "server_name": ("vhost", None),
    "http_host": ("vhost", None),
    "http_x_forwarded_for": ("xff", None),
    "rest": ("rest", ".*"),
}
# Fields the pipeline needs; the others are matched without capturing them.
USED = {
    "ip",
    "time",
    "time_iso",
    "request",
    "status",
    "bytes",
    "referrer",
    "ua",
    "vhost",
    "xff",
    "rest",
}
NAMED = {
    "combined": '$remote_addr $remote_ident $remote_user [$time_local] "$request" $status '
    '$body_bytes_sent "$http_referer" "$http_user_agent"$rest',
    "common": '$remote_addr $remote_ident $remote_user [$time_local] "$request" $status '
    "$body_bytes_sent",
    "vhost_combined": '$host $remote_addr $remote_ident $remote_user [$time_local] "$request" '
    '$status $body_bytes_sent "$http_referer" "$http_user_agent"$rest',
    "vhost_common": '$host $remote_addr $remote_ident $remote_user [$time_local] "$request" '
    "$status $body_bytes_sent",
}
# Detection order: on a tie the earlier, richer format wins.
DETECT_ORDER = ("combined", "vhost_combined", "common", "vhost_common")
_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)\}")
_GROUP = re.compile(r"\(\?P<(\w+)>")
# RE2 extracts up to 4 groups with its fast one-pass engine; more fall back to a slower one.
MAX_GROUPS = 4


class FormatError(ValueError):
    """A --log-format value that names no known format and is no usable nginx log_format."""


@dataclass(frozen=True)
class Token:
    """A literal piece of the line (`var` None) or a variable with the field it fills."""

    text: str
    var: str | None = None
    field: str | None = None
    quoted: bool = False


@dataclass(frozen=True)
class LogFormat:
    name: str
    spec: str
    tokens: tuple[Token, ...]
    regex: str
    # The regex in pieces (`^`, one per token, the line end) and the pieces after which a
    # prefix of it captures exactly what the whole regex does (see `_ends_cleanly`).
    parts: tuple[str, ...] = ()
    cuts: tuple[int, ...] = ()

    @property
    def split_regexes(self) -> list[str]:
        """The regex as several with at most 4 groups each, which RE2 runs much faster.

        The first checks the whole line (its matches are the well-formed lines); the others
        stop after their last group where that captures the same, as RE2 then never reads the
        rest of the line (a user agent is the longest part).
        """
        names = _GROUP.findall(self.regex)
        # counted from the end: the whole-line pass takes the last groups, the others stop early
        subsets = [names[max(0, i - MAX_GROUPS) : i] for i in range(len(names), 0, -MAX_GROUPS)]
        return [self._capturing(set(keep), whole=i == 0) for i, keep in enumerate(subsets or [[]])]

    def _capturing(self, keep: set[str], whole: bool) -> str:
        """The regex capturing only `keep`, cut short after the last of them unless `whole`."""
        regex = self.regex
        if not whole and self.parts:
            last = max(i for i, p in enumerate(self.parts) if _GROUP.match(p) and
                       _GROUP.match(p).group(1) in keep)  # fmt: skip
            cut = next((c for c in self.cuts if c > last), None)
            if cut is not None:
                regex = "".join(self.parts[: cut + 1])
        return _GROUP.sub(lambda m: m.group(0) if m.group(1) in keep else "(?:", regex)


def parse_spec(spec: str) -> tuple[Token, ...]:
    """Split an nginx log_format string into literal and variable tokens."""
    tokens: list[Token] = []
    pos = 0
    for m in _VARIABLE.finditer(spec):
        if m.start() > pos:
            tokens.append(Token(spec[pos : m.start()]))
        var = m.group(1) or m.group(2)
        field = VARIABLES.get(var, (var, None))[0]
        quoted = spec[m.start() - 1 : m.start()] == '"' and spec[m.end() : m.end() + 1] == '"'
        tokens.append(Token(m.group(0), var, field, quoted))
        pos = m.end()
    if pos < len(spec):
        tokens.append(Token(spec[pos:]))
    return tuple(tokens)


def compile_format(name: str, spec: str) -> LogFormat:
    """The anchored RE2 regex of a log_format string, one named group per used field."""
    tokens = parse_spec(spec)
    if not any(t.var for t in tokens):
        raise FormatError(f"log format {spec!r} has no $variables")
    if not {"remote_addr", "status"} <= {t.var for t in tokens} or not (
        {"time_local", "time_iso8601"} & {t.var for t in tokens}
    ):
        raise FormatError(
            "a log format needs at least $remote_addr, $time_local (or $time_iso8601) and $status"
        )
    parts, seen, cuts, clean = ["^"], set(), [], True
    for i, token in enumerate(tokens):
        if token.var is None:
            parts.append(re.escape(token.text))
            if clean:
                cuts.append(len(parts) - 1)
            continue
        pattern = VARIABLES.get(token.var, (None, None))[1] or _context_pattern(tokens, i)
        clean = clean and _ends_cleanly(pattern, tokens[i + 1 : i + 2])
        if token.field in USED and token.field not in seen:
            seen.add(token.field)
            parts.append(f"(?P<{token.field}>{pattern})")
        else:
            parts.append(f"(?:{pattern})")
    parts.append(r"\r?\n?$")
    if parts[-2] == "(?P<rest>.*)":  # one-pass needs an unambiguous end
        parts[-2] = r"(?P<rest>[^\r\n]*)"
    return LogFormat(name, spec, tokens, "".join(parts), tuple(parts), tuple(cuts))


def _ends_cleanly(pattern: str, following: tuple[Token, ...]) -> bool:
    """True when a value of `pattern` can end in one place only, whatever comes after the
    literal that follows it: a fixed-length time or status, a number before a non-digit, a
    quoted value before its quote, `[^c]*` before c."""
    if not following or following[0].var is not None or not following[0].text:
        return False
    stop = following[0].text[0]
    if pattern in (TIME_LOCAL, TIME_ISO, VARIABLES["status"][1]):
        return True
    if pattern == VARIABLES["bytes_sent"][1]:
        return not stop.isdigit() and stop != "-"
    if pattern == QUOTED:
        return stop == '"'
    return pattern == f"[^{re.escape(stop)}]*" or (stop == " " and pattern == "[^ ]*")


def _context_pattern(tokens: tuple[Token, ...], i: int) -> str:
    """A variable's value runs up to the literal after it: a quote, a bracket or a space."""
    if tokens[i].quoted:
        return QUOTED
    following = tokens[i + 1].text if i + 1 < len(tokens) else ""
    if not following:
        return ".*"
    stop = following[0]
    return f"[^{re.escape(stop)}]*" if stop != " " else "[^ ]*"


def get_format(name_or_spec: str) -> LogFormat:
    """A named format (`combined`, `common`, `vhost_combined`, `vhost_common`) or an nginx string."""
    key = name_or_spec.strip().lower().replace("-", "_")
    if key in NAMED:
        return compile_format(key, NAMED[key])
    if "$" not in name_or_spec:
        raise FormatError(
            f"unknown log format {name_or_spec!r}: use one of {', '.join(NAMED)} "
            "or an nginx log_format string such as '$remote_addr - [$time_local] \"$request\" ...'"
        )
    return compile_format("custom", name_or_spec)


def detect_format(lines: list[str]) -> LogFormat | None:
    """The named format that matches most of these lines, or None when none matches any."""
    sample = pa.array([line.rstrip("\r\n") for line in lines if line.strip()], pa.string())
    if len(sample) == 0:
        return None
    best, best_hits = None, 0
    for name in DETECT_ORDER:
        fmt = get_format(name)
        hits = pc.sum(pc.match_substring_regex(sample, fmt.regex)).as_py() or 0
        if hits > best_hits:
            best, best_hits = fmt, hits
    return best
