"""Anonymised log lines: what `anonymize` writes, goaccess.html is built from and --state keeps.

Made from anonymised values only (truncated address, no query string, addresses in free text
truncated), in the input's layout or nginx's combined one.
"""

from __future__ import annotations

from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analytics.anonymise import Anonymiser
from analytics.distinct import plain
from analytics.formats import Token


def anonymised_lines(
    tokens: tuple[Token, ...], values: dict[str, pa.Array], length: int
) -> pa.Array:
    """Log lines in the layout of `tokens` from anonymised values; unknown variables become "-"."""
    parts = []
    for token in tokens:
        if token.var is None:
            parts.append(pa.scalar(token.text, pa.string()))
        elif token.field == "rest":
            parts.append(pc.fill_null(values.get("rest", pa.scalar("")), ""))
        else:
            column = values.get(token.field)
            parts.append(pc.fill_null(column, "-") if column is not None else pa.scalar("-"))
    parts.append(pa.scalar("\n", pa.string()))
    if length == 0:
        return pa.array([], pa.string())
    arrays = [p for p in parts if isinstance(p, pa.Array | pa.ChunkedArray)]
    if not arrays:
        return pa.array(["".join(p.as_py() for p in parts)] * length, pa.string())
    return pc.binary_join_element_wise(*parts, "")


def anonymised_values(
    parsed_columns: dict[str, pa.Array],
    truncated_ip: pa.Array,
    method: pa.Array,
    clean_path: pa.Array,
    protocol: pa.Array,
    referrer: pa.Array | None,
    anonymiser: Anonymiser,
) -> dict[str, pa.Array]:
    """The values an anonymised line is written from: nothing that names a visitor."""
    method, clean_path, protocol, referrer = map(plain, (method, clean_path, protocol, referrer))
    request = pc.binary_join_element_wise(method, clean_path, pc.fill_null(protocol, ""), " ")
    junk = pc.is_null(method)
    if pc.any(junk).as_py():  # no query string, whatever the shape of the request line
        scrubbed = anonymiser.scrub_text(parsed_columns["request"].filter(junk))
        request = pc.replace_with_mask(request, junk, scrubbed)
    request = pc.utf8_rtrim(request, " ")
    values = {
        "ip": plain(truncated_ip),
        "time": parsed_columns.get("time"),
        "time_iso": parsed_columns.get("time_iso"),
        "request": request,
        "status": parsed_columns.get("status"),
        "bytes": parsed_columns.get("bytes"),
        "referrer": referrer,
        "ua": plain(parsed_columns.get("ua")),
        "vhost": parsed_columns.get("vhost"),
    }
    for name in ("xff", "rest"):
        if name in parsed_columns:
            values[name] = anonymiser.truncate_in_text(parsed_columns[name])
    return {k: v for k, v in values.items() if v is not None}


def write_lines(lines: pa.Array, out: IO[bytes]) -> None:
    """Write an Arrow string array's bytes straight from its buffer."""
    if len(lines) == 0:
        return
    lines = lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines
    offsets = np.frombuffer(lines.buffers()[1], np.int32, len(lines) + 1, lines.offset * 4)
    data = lines.buffers()[2]
    out.write(memoryview(data)[offsets[0] : offsets[-1]])
