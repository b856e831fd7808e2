"""Per-value work done once per distinct value of a column, then spread back to every row."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def encode(column: pa.Array) -> tuple[list[Any], np.ndarray]:
    """Distinct values (None for null) and each row's index into them."""
    values, codes = encode_arrow(column)
    return values.to_pylist(), codes


def encode_arrow(column: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """`encode`, the distinct values as an Arrow array."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    encoded = pc.dictionary_encode(column, null_encoding="encode")
    return encoded.dictionary, encoded.indices.to_numpy(zero_copy_only=False)


def values_and_codes(column: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """`encode_arrow`, taking a dictionary column's own values and codes as they are (its
    values may repeat); one with null codes is decoded first."""
    if pa.types.is_dictionary(column.type):
        if not column.indices.null_count:
            return column.dictionary, column.indices.to_numpy(zero_copy_only=False)
        column = plain(column)
    return encode_arrow(column)


def plain(column: pa.Array | None) -> pa.Array | None:
    """A dictionary-encoded column as plain values (any other column, or None, as it is)."""
    if column is not None and pa.types.is_dictionary(column.type):
        return column.cast(column.type.value_type)
    return column


STRING = pa.string()


def map_distinct(column: pa.Array, func: Callable[[Any], Any], type_=STRING) -> pa.Array:
    """`func` applied once per distinct value of `column`, as an array as long as the column."""
    values, codes = encode(column)
    mapped = pa.array([func(v) for v in values], type_)
    return mapped.take(pa.array(codes)) if len(codes) else mapped.slice(0, 0)


def unique_ints(values: np.ndarray, counts: bool = False, inverse: bool = False):
    """`np.unique` of integers (with `return_counts`/`return_inverse`), as a bincount when they
    span a small range: several times faster than sorting or hashing a million rows."""
    if len(values):
        low = int(values.min())
        span = int(values.max()) - low + 1
        if span <= max(4 * len(values), 1 << 16):
            offset = values.astype(np.int64) - low
            tally = np.bincount(offset, minlength=span)
            present = tally > 0
            result = [np.flatnonzero(present) + low]
            if inverse:
                result.append((np.cumsum(present) - 1)[offset])
            if counts:
                result.append(tally[present])
            return result[0] if len(result) == 1 else tuple(result)
    return np.unique(values, return_counts=counts, return_inverse=inverse)
