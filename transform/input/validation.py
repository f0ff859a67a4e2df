"""The input checked against its spec on a sample, before any heavy work.

Each problem names the column, the file (and line or record) and what was expected:
- a column the spec reads (a feature, a task label or truth, the group key, a split
  column) that the input does not have;
- values of the wrong type: a CSV cell that does not parse as the declared dtype, a
  tf.Example value of another kind (int64_list for a float feature ...), or more than one
  value in a row;
- a label that is not binary: without `positive_values` or `threshold`, a label other
  than 0/1.
Every problem is listed in one `InputError`. Values that are merely unusual (unknown
categories, missing or extreme numerics) pass: preprocessing defaults, clips and hashes
them. Empty splits and tasks without positives are counted exactly by ingest.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2

from transform.input.csv_values import CsvValueError, clean_column
from transform.input.reader import FileSample, InputError, csv_column_names, read_plan, read_sample, sample_paths
from transform.input.schema_inference import arrow_dtype, column_dtypes, infer_schema
from transform.preprocessing import binary_label
from transform.schema import read_schema
from transform.source import SplitRule
from transform.spec import Spec

_LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class CheckedInput:
    """What validation learned about the input, for ingest to read it.

    Attributes:
      plan: file pattern -> the split rules its rows may join.
      column_names: CSV columns in file order (empty for tf.Example input).
      schema: the input's schema, as given (`input.schema`) or inferred from the sample.
      inferred: whether `schema` was inferred.
      sample_rows: rows the checks read.
    """

    plan: dict[str, tuple[SplitRule, ...]]
    column_names: tuple[str, ...]
    schema: schema_pb2.Schema
    inferred: bool
    sample_rows: int


def validate_input(spec: Spec) -> CheckedInput:
    """Reads a sample of the spec's input and checks it; raises InputError listing every problem."""
    config = _declared_input(spec)
    plan = read_plan(config, spec.splits)
    paths = sample_paths(list(plan))
    column_names = csv_column_names(config, paths[0]) if config.format == "csv" else ()
    samples = [read_sample(config, path, column_names) for path in paths]
    csv_missing = config.missing_values if config.format == "csv" else None
    schema = read_schema(config.schema) if config.schema else infer_schema(samples, csv_missing)
    problems = _check_columns(spec, schema, samples, config.schema)
    for sample in samples:
        problems += _check_sample(spec, sample, csv_missing)
    if problems:
        raise InputError(f"the input of spec {spec.name!r} does not match it:\n  " + "\n  ".join(problems))
    rows = sum(sample.batch.num_rows for sample in samples)
    _LOG.info("validate: %d sampled rows of %d file(s) match spec %r", rows, len(samples), spec.name)
    return CheckedInput(plan, column_names, schema, not config.schema, rows)


def read_columns(spec: Spec) -> dict[str, tuple[str, Optional[str]]]:
    """Every input column the spec reads -> (its role, its declared dtype or None for any)."""
    columns: dict[str, tuple[str, Optional[str]]] = {}
    for feature in spec.features:
        columns[feature.name] = (f"feature {feature.name!r}", feature.dtype)
    for task in spec.tasks:
        columns.setdefault(task.label, (f"label of task {task.name!r}", task.label_dtype))
        if task.truth:
            columns.setdefault(task.truth, (f"truth of task {task.name!r}", "float"))
    if spec.group_key:
        columns.setdefault(spec.group_key, ("group_key", "int64"))
    for name in spec.splits.columns() if spec.splits else ():
        columns.setdefault(name, ("split column", None))
    return columns


def _declared_input(spec: Spec):
    if spec.input is None or spec.input.format == "simulator":
        raise InputError(f"spec {spec.name!r} declares no input files to validate (input format: "
                         f"{spec.input.format if spec.input else None})")
    return spec.input


def _check_columns(spec: Spec, schema, samples: list[FileSample], schema_path: Optional[str]) -> list[str]:
    """Missing columns, and (given a schema file) types that disagree with the spec."""
    available = column_dtypes(schema)
    source = schema_path or ", ".join(sample.path for sample in samples)
    problems = []
    for name, (role, dtype) in read_columns(spec).items():
        if name not in available:
            problems.append(f"{source}: column {name!r} ({role}) is missing; the input has {sorted(available)}")
        elif schema_path and dtype and available[name] != dtype:
            problems.append(f"{schema_path}: column {name!r} ({role}) is {available[name]}; the spec declares {dtype}")
    return problems


def _check_sample(spec: Spec, sample: FileSample, csv_missing: Optional[tuple[str, ...]]) -> list[str]:
    if sample.batch.num_rows == 0:
        return [f"{sample.path}: no rows"]
    names = sample.batch.schema.names
    typed, problems = {}, []
    for name, (role, dtype) in read_columns(spec).items():
        if name not in names or dtype is None:
            continue
        values, problem = _typed(sample, name, role, dtype, sample.batch.column(names.index(name)), csv_missing)
        problem = problem or _multivalent(sample, name, role, values)
        if problem:
            problems.append(problem)
        else:
            typed[name] = values
    return problems + _label_problems(spec, sample, typed)


def _typed(sample, name, role, dtype, column, csv_missing) -> tuple[Optional[pa.Array], Optional[str]]:
    """The column as typed values, or the problem with its type."""
    if csv_missing is not None:
        try:
            return clean_column(column, name, dtype, csv_missing), None
        except CsvValueError as error:
            problem = f"column {name!r} ({role}) holds {error.value!r}, not of dtype {dtype}"
            return None, f"{sample.where(error.row)}: {problem}"
    if pa.types.is_null(column.type):
        return column, None
    found = arrow_dtype(column.type.value_type)
    if found != dtype:
        return None, f"{sample.path}: column {name!r} ({role}) holds {found} values; the spec declares {dtype}"
    return column, None


def _multivalent(sample: FileSample, name: str, role: str, values: Optional[pa.Array]) -> Optional[str]:
    if values is None or pa.types.is_null(values.type):
        return None
    lengths = pc.fill_null(pc.list_value_length(values), 0).to_numpy()
    rows = np.flatnonzero(lengths > 1)
    if len(rows):
        row = int(rows[0])
        return f"{sample.where(row)}: column {name!r} ({role}) holds {lengths[row]} values; one is expected"
    return None


def _label_problems(spec: Spec, sample: FileSample, typed: dict[str, pa.Array]) -> list[str]:
    """Labels without a mapping must be 0/1; a sample without positives is only logged."""
    problems = []
    for task in spec.tasks:
        values = typed.get(task.label)
        if values is None or pa.types.is_null(values.type) or not len(pc.list_flatten(values)):
            continue
        present = pc.list_flatten(values).to_numpy(zero_copy_only=False)
        distinct = sorted(set(present.tolist()))
        if task.positive_values is None and task.threshold is None and not set(distinct) <= {0, 1}:
            shown = distinct[:10] + (["..."] if len(distinct) > 10 else [])
            problems.append(
                f"{sample.path}: label column {task.label!r} of task {task.name!r} holds values {shown}; "
                f"expected 0/1, or declare positive_values or threshold to map it"
            )
        elif not tf.reduce_any(binary_label(task, tf.constant(present)) > 0):
            _LOG.warning("validate: none of the %d rows sampled from %s is positive for task %r (label %r: %s)",
                         sample.batch.num_rows, sample.path, task.name, task.label, distinct[:10])
    return problems
