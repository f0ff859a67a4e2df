"""Reading the declared input: the files of each pattern, a sample of rows per file, TFXIO sources.

Validation reads the sample (the first `rows` rows of a few files per pattern); ingest
reads everything through the TFXIO sources (`tfxio.CsvTFXIO`, `tfxio.TFExampleRecord`).
Both decompress by file extension (.gz, .bz2 ...), as Beam's file system does.
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import itertools
import re
from typing import Iterable, Iterator

import pyarrow as pa
import tensorflow as tf
from apache_beam.io.filesystems import FileSystems
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx_bsl.coders import example_coder
from tfx_bsl.public import tfxio

from transform.input.csv_values import CELL_TYPE
from transform.source import DATA_ROOT_ENV, InputConfig, SplitRule, Splits

SAMPLE_ROWS_PER_FILE = 2000
SAMPLE_FILES_PER_PATTERN = 4
TELEMETRY = ["feedrank"]
# How Beam's TFRecord source and tf.data report a record that does not read back.
_CORRUPT_RECORD_SIGNS = ("Not a valid TFRecord", "truncated record", "corrupted record", "DataLossError")


class InputError(ValueError):
    """Input data that does not match its spec; the message names the file and the column."""


@dataclasses.dataclass(frozen=True)
class FileSample:
    """The first rows of one input file.

    Attributes:
      path: the file.
      batch: CSV: one large_list<large_binary> column per CSV column, a null for an empty
        cell (as CsvTFXIO decodes it); TFRecord: columns typed by the tf.Example value kind.
      line_numbers: CSV: the line number (from 1) of each row; TFRecord: empty.
    """

    path: str
    batch: pa.RecordBatch
    line_numbers: tuple[int, ...] = ()

    def where(self, row: int) -> str:
        """`path line N` (CSV) or `path record N` (TFRecord) of a sample row."""
        return f"{self.path} line {self.line_numbers[row]}" if self.line_numbers else f"{self.path} record {row}"


def read_plan(config: InputConfig, splits: Splits) -> dict[str, tuple[SplitRule, ...]]:
    """File pattern -> the split rules its rows may join; each pattern is read once.

    Raises:
      InputError: a pattern matches no file, or a file matches two patterns (it would be
        read twice).
    """
    plan: dict[str, list[SplitRule]] = {}
    for rule in splits.rules:
        for pattern in rule.files or config.files:
            plan.setdefault(pattern, []).append(rule)
    owners: dict[str, str] = {}
    for pattern in plan:
        for path in matching_files(pattern):
            if path in owners:
                raise InputError(
                    f"{path} matches both {owners[path]!r} and {pattern!r}; each file must match one pattern"
                )
            owners[path] = pattern
    return {pattern: tuple(rules) for pattern, rules in plan.items()}


def matching_files(pattern: str) -> list[str]:
    """Files matching a glob pattern, sorted; none is an error naming the pattern."""
    files = sorted(tf.io.gfile.glob(pattern))
    if not files:
        raise InputError(f"no file matches {pattern!r} (relative paths resolve against --data-root, "
                         f"${DATA_ROOT_ENV} or the spec file's directory)")
    return files


def corrupt_record_files(paths: Iterable[str]) -> list[str]:
    """`<path>: <what is wrong>` for each TFRecord file whose records do not all read back.

    Every record's length and checksums are verified as it is read: a truncated file ends
    inside a record, a corrupt one fails a checksum. `.gz` files are read as GZIP.
    """
    problems = []
    for path in paths:
        records = tf.data.TFRecordDataset(path, "GZIP" if path.endswith(".gz") else "").batch(4096)
        try:
            records.reduce(tf.constant(0, tf.int64), lambda count, batch: count + tf.size(batch, tf.int64))
        except tf.errors.OpError as error:
            problems.append(f"{path}: {_op_message(error)}")
    return problems


@contextlib.contextmanager
def naming_corrupt_records(patterns: Iterable[str], stage: str) -> Iterator[None]:
    """Turns a failure to read a TFRecord inside the block into an InputError naming each bad file.

    Neither Beam's TFRecord source (`Not a valid TFRecord. Fewer than 12 bytes`) nor tf.data
    (`DataLossError: truncated record at 2970`) names the file. On such a failure the files of
    `patterns` are read again, record by record (`corrupt_record_files`), and every truncated
    or corrupt one is named; a block that succeeds costs nothing. Nothing is skipped: a run
    on part of its data would give a model that silently misses rows.
    """
    try:
        yield
    except Exception as error:
        if not any(sign in f"{type(error).__name__}: {error}" for sign in _CORRUPT_RECORD_SIGNS):
            raise
        problems = corrupt_record_files(sorted({path for pattern in patterns for path in tf.io.gfile.glob(pattern)}))
        if not problems:
            raise
        raise InputError(f"{stage}: corrupt or truncated TFRecord file(s); write them again or remove them:\n  "
                         + "\n  ".join(problems)) from error


def _op_message(error: tf.errors.OpError) -> str:
    """A TensorFlow op error's message without the function-node prefix and op suffix."""
    return re.sub(r"\{\{[^}]*\}\}\s*", "", error.message).split(" [Op:")[0].strip()


def sample_paths(patterns: list[str], per_pattern: int = SAMPLE_FILES_PER_PATTERN) -> list[str]:
    """Up to `per_pattern` files of each pattern, spread evenly over its sorted files."""
    paths = []
    for pattern in patterns:
        files = matching_files(pattern)
        step = max(1, len(files) // per_pattern)
        paths.extend(files[::step][:per_pattern])
    return paths


def csv_column_names(config: InputConfig, first_path: str) -> tuple[str, ...]:
    """The declared column_names, or the header line of `first_path`."""
    return config.column_names or tuple(_csv_header(config, first_path))


def read_sample(
    config: InputConfig, path: str, column_names: tuple[str, ...], rows: int = SAMPLE_ROWS_PER_FILE
) -> FileSample:
    """The first `rows` rows of `path` (see `FileSample`)."""
    if config.format == "csv":
        return _read_csv_sample(config, path, column_names, rows)
    return _read_tfrecord_sample(path, rows)


def tfxio_source(
    config: InputConfig, pattern: str, column_names: tuple[str, ...], schema: schema_pb2.Schema
) -> tfxio.TFXIO:
    """The TFXIO reading every row of `pattern`: CSV cells as bytes, or tf.Examples by `schema`."""
    if config.format == "csv":
        return tfxio.CsvTFXIO(
            file_pattern=pattern,
            column_names=list(column_names),
            delimiter=config.delimiter,
            schema=schema,
            skip_header_lines=1 if config.header else 0,
            telemetry_descriptors=TELEMETRY,
        )
    return tfxio.TFExampleRecord(file_pattern=pattern, schema=schema, telemetry_descriptors=TELEMETRY)


def text_schema(column_names: tuple[str, ...]) -> schema_pb2.Schema:
    """Every CSV column as bytes: typing is left to `transform.input.csv_values.clean_batch`."""
    schema = schema_pb2.Schema()
    for name in column_names:
        schema.feature.add(name=name, type=schema_pb2.BYTES)
    return schema


def _csv_header(config: InputConfig, path: str) -> list[str]:
    with _open_text(path) as lines:
        header = next(csv.reader(lines, delimiter=config.delimiter), None)
    if not header:
        raise InputError(f"{path} line 1: expected a header line naming the columns (input.header is true)")
    return [name.strip() for name in header]


def _read_csv_sample(config: InputConfig, path: str, column_names: tuple[str, ...], rows: int) -> FileSample:
    cells: list[list] = [[] for _ in column_names]
    line_numbers = []
    with _open_text(path) as lines:
        reader = csv.reader(lines, delimiter=config.delimiter)
        if config.header:
            header = [name.strip() for name in next(reader, [])]
            if not config.column_names and header != list(column_names):
                raise InputError(f"{path} line 1: header {header} differs from the first file's {list(column_names)}")
        for row in itertools.islice((row for row in reader if row), rows):
            if len(row) != len(column_names):
                raise InputError(
                    f"{path} line {reader.line_num}: {len(row)} values, expected {len(column_names)} "
                    f"(columns {list(column_names)})"
                )
            line_numbers.append(reader.line_num)
            for column, cell in zip(cells, row):
                column.append([cell.encode()] if cell else None)
    arrays = [pa.array(column, CELL_TYPE) for column in cells]
    return FileSample(path, pa.RecordBatch.from_arrays(arrays, list(column_names)), tuple(line_numbers))


def _read_tfrecord_sample(path: str, rows: int) -> FileSample:
    compression = "GZIP" if path.endswith(".gz") else ""
    try:
        records = [record.numpy() for record in tf.data.TFRecordDataset(path, compression).take(rows)]
    except tf.errors.OpError as error:
        raise InputError(f"{path}: not a TFRecord file: {error.message}") from error
    try:
        batch = example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(records)
    except (RuntimeError, ValueError) as error:
        raise InputError(f"{path}: records are not tf.Examples with one value kind per column: {error}") from error
    return FileSample(path, batch)


@contextlib.contextmanager
def _open_text(path: str) -> Iterator[Iterator[str]]:
    """The lines of a (possibly compressed) text file, decoded as UTF-8."""
    handle = FileSystems.open(path)
    try:
        yield (line.decode("utf-8") for line in iter(handle.readline, b""))
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not UTF-8 text: {error}") from error
    finally:
        handle.close()
