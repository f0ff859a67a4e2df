"""CSV cells -> typed Arrow columns, the way every CSV input is read.

CsvTFXIO decodes every column as bytes; each cell is then stripped of surrounding
whitespace (census-income writes "value, value"), a cell that is empty or one of the
input's `missing_values` (e.g. "?") becomes missing, and the rest is cast to the declared
dtype: int64, float (float32) or string. A cell that does not parse raises `CsvValueError`
with the column, the row and the value. The sample validation and the ingest pipeline both
call `clean_batch`, so what is validated is what is ingested.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ARROW_TYPES = {"int64": pa.int64(), "float": pa.float32(), "string": pa.large_binary()}
CELL_TYPE = pa.large_list(pa.large_binary())


class CsvValueError(ValueError):
    """A CSV cell that does not parse as its column's declared dtype."""

    def __init__(self, column: str, row: int, value: str, dtype: str):
        super().__init__(f"column {column!r}: {value!r} is not of dtype {dtype}")
        self.column, self.row, self.value, self.dtype = column, row, value, dtype


def clean_batch(batch: pa.RecordBatch, dtypes: dict[str, str], missing_values: tuple[str, ...]) -> pa.RecordBatch:
    """Every column cleaned and cast: to `dtypes[name]`, or kept as text when not declared."""
    columns = [
        clean_column(batch.column(index), name, dtypes.get(name, "string"), missing_values)
        for index, name in enumerate(batch.schema.names)
    ]
    return pa.RecordBatch.from_arrays(columns, batch.schema.names)


def clean_column(cells: pa.Array, name: str, dtype: str, missing_values: tuple[str, ...]) -> pa.LargeListArray:
    """One CSV column (list<binary>, a null list for an empty cell) -> list<dtype>, missing as null."""
    text = pc.utf8_trim_whitespace(pc.cast(pc.list_element(cells, 0), pa.large_string()))
    missing = pc.fill_null(pc.is_in(text, value_set=pa.array(["", *missing_values], pa.large_string())), True)
    text = pc.if_else(missing, pa.scalar(None, pa.large_string()), text)
    try:
        values = pc.cast(text, ARROW_TYPES[dtype])
    except pa.ArrowInvalid:
        row, value = _first_unparsable(text, dtype)
        raise CsvValueError(name, row, value, dtype) from None
    valid = np.asarray(values.is_valid())
    offsets = pa.array(np.concatenate([[0], np.cumsum(valid)]), pa.int64())
    return pa.LargeListArray.from_arrays(offsets, values.filter(pa.array(valid)), mask=pa.array(~valid))


def _first_unparsable(text: pa.Array, dtype: str) -> tuple[int, str]:
    """The first (row, value) that the cast to `dtype` rejects."""
    for row, value in enumerate(text.to_pylist()):
        if value is None:
            continue
        try:
            pc.cast(pa.array([value], pa.large_string()), ARROW_TYPES[dtype])
        except pa.ArrowInvalid:
            return row, value
    raise AssertionError("the cast failed but every value parses alone")
