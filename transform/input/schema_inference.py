"""A tensorflow_metadata Schema of the input columns, inferred from a sample of the input.

Used when the data config names no `input.schema`. Per column:
- type: CSV: INT if every present cell parses as int64, else FLOAT if every one parses as
  a float, else BYTES (parsed exactly as ingest parses them, `transform.input.csv_values`);
  TFRecord: the tf.Example value kind (int64_list, float_list, bytes_list);
- presence.min_fraction: the share of sampled rows carrying a value;
- value_count: the fewest and most values a sampled row carries.
A column with no value in the sample gets type BYTES and presence 0.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tensorflow_metadata.proto.v0 import schema_pb2

from transform.input.csv_values import CsvValueError, clean_column
from transform.input.reader import FileSample, InputError

SCHEMA_DTYPES = {schema_pb2.INT: "int64", schema_pb2.FLOAT: "float", schema_pb2.BYTES: "string"}
_SCHEMA_TYPES = {dtype: kind for kind, dtype in SCHEMA_DTYPES.items()}
_CSV_CANDIDATES = ((schema_pb2.INT, "int64"), (schema_pb2.FLOAT, "float"))


def infer_schema(samples: list[FileSample], csv_missing_values: tuple[str, ...] | None) -> schema_pb2.Schema:
    """The schema of the sampled columns; `csv_missing_values` is None for tf.Example input."""
    schema = schema_pb2.Schema()
    for name, cells in _columns(samples).items():
        if csv_missing_values is not None:
            kind, values = _csv_type(name, cells, csv_missing_values)
        else:
            kind, values = _example_type(cells), cells
        _add_feature(schema, name, kind, values)
    return schema


def column_dtypes(schema: schema_pb2.Schema) -> dict[str, str]:
    """Column -> int64 / float / string, from a schema's feature types."""
    return {feature.name: SCHEMA_DTYPES.get(feature.type, "string") for feature in schema.feature}


def _columns(samples: list[FileSample]) -> dict[str, pa.ChunkedArray]:
    """Each column over every sampled file, in first-seen order."""
    chunks: dict[str, list] = {}
    for sample in samples:
        for name, column in zip(sample.batch.schema.names, sample.batch.columns):
            chunks.setdefault(name, []).append((sample.path, column))
    return {name: _concat(name, parts) for name, parts in chunks.items()}


def _concat(name: str, parts: list) -> pa.ChunkedArray:
    typed = [(path, column) for path, column in parts if not pa.types.is_null(column.type)]
    kinds = {str(column.type) for _, column in typed}
    if len(kinds) > 1:
        found = ", ".join(f"{path}: {column.type}" for path, column in typed)
        raise InputError(f"column {name!r} holds different value types across files ({found})")
    return pa.chunked_array([column for _, column in typed] or [pa.nulls(0)])


def _csv_type(name: str, cells: pa.ChunkedArray, missing_values: tuple[str, ...]) -> tuple[int, pa.Array]:
    column = cells.combine_chunks()
    for kind, dtype in _CSV_CANDIDATES:
        try:
            return kind, clean_column(column, name, dtype, missing_values)
        except CsvValueError:
            continue
    return schema_pb2.BYTES, clean_column(column, name, "string", missing_values)


def arrow_dtype(value_type: pa.DataType) -> str:
    """int64 / float / string: the spec dtype of decoded tf.Example values of an Arrow type."""
    if pa.types.is_integer(value_type):
        return "int64"
    if pa.types.is_floating(value_type):
        return "float"
    return "string"


def _example_type(cells: pa.ChunkedArray) -> int:
    if pa.types.is_null(cells.type):
        return schema_pb2.BYTES
    return _SCHEMA_TYPES[arrow_dtype(cells.type.value_type)]


def _add_feature(schema: schema_pb2.Schema, name: str, kind: int, values) -> None:
    feature = schema.feature.add(name=name, type=kind)
    rows = len(values)
    if rows == 0 or pa.types.is_null(values.type):
        feature.presence.min_fraction = 0.0
        return
    lengths = np.asarray(pc.list_value_length(values).to_numpy(zero_copy_only=False), dtype=float)
    present = lengths[~np.isnan(lengths)]
    feature.presence.min_fraction = round(float(len(present)) / rows, 4)
    if len(present):
        feature.value_count.min = int(present.min())
        feature.value_count.max = int(present.max())
