"""Ingest: the declared input (CSV or tf.Example TFRecords) -> the split layout every stage reads.

    <data_dir>/<split>/part-XXXXX-of-YYYYY.tfrecord   tf.Examples of the spec's columns (features,
                                                      labels, truths, group key), typed as declared
    <data_dir>/schema.pbtxt                           schema of those rows
    <data_dir>/input_schema.pbtxt                     the input's schema, as given or inferred
    <data_dir>/metadata.json                          files, split rules, rows and positives per split

The layout is the simulator's, so transform, evaluation and warmup read both alike. First a
sample is validated (`transform.input.validation`); then one Beam pipeline reads each file
pattern once through TFXIO, types CSV cells (`transform.input.csv_values`), assigns every row its
split (`transform.input.split_assignment`), writes each split, and counts rows and positives per
split and task (labels mapped by `transform.preprocessing.binary_label`). An empty split, or
a task without a positive or a negative row in a split, raises `InputError`; the directory
appears in one rename, once complete.
"""
from __future__ import annotations

import json
import logging
import os

import apache_beam as beam
import numpy as np
import pyarrow as pa
import tensorflow as tf
from apache_beam.options.pipeline_options import PipelineOptions
from tfx_bsl.coders import example_coder

from transform.beam_pipeline import LogProgress
from transform.common.files import atomic_directory, write_json
from transform.input.csv_values import CsvValueError, clean_batch
from transform.input.reader import InputError, matching_files, naming_corrupt_records, text_schema, tfxio_source
from transform.input.schema_inference import column_dtypes
from transform.input.split_assignment import assign_splits
from transform.input.validation import CheckedInput, read_columns, validate_input
from transform.preprocessing import segment_indicator, task_labels
from transform.schema import (
    TF_DTYPES, label_feature_spec, logged_data_feature_spec, schema_from_spec, serving_feature_spec, write_schema,
)
from transform.source import SplitRule, hash_ranges
from transform.spec import Spec

SCHEMA_FILE = "schema.pbtxt"
INPUT_SCHEMA_FILE = "input_schema.pbtxt"
METADATA_FILE = "metadata.json"
_COUNTS = "_counts"
_LOG = logging.getLogger(__name__)


def ingest(spec: Spec, output_dir: str, beam_args: list[str] | None = None) -> dict:
    """Validates a sample, then writes every split of the spec's input to `output_dir`.

    Returns the metadata written to `output_dir/metadata.json`.
    """
    checked = validate_input(spec)
    with atomic_directory(output_dir) as tmp_dir:
        _LOG.info("ingest: reading %s", sorted(checked.plan))
        with naming_corrupt_records(checked.plan if spec.input.format == "tfrecord" else (), "ingest"):
            with beam.Pipeline(options=PipelineOptions(beam_args or [])) as pipeline:
                _build(pipeline, spec, checked, tmp_dir)
        counts_path = os.path.join(tmp_dir, _COUNTS)
        with open(counts_path) as handle:
            counts = json.load(handle)
        os.remove(counts_path)
        check_counts(spec, counts)
        write_schema(schema_from_spec(logged_data_feature_spec(spec)), os.path.join(tmp_dir, SCHEMA_FILE))
        write_schema(checked.schema, os.path.join(tmp_dir, INPUT_SCHEMA_FILE))
        metadata = _metadata(spec, checked, counts)
        write_json(metadata, os.path.join(tmp_dir, METADATA_FILE))
    _LOG.info("ingest: wrote %s (%s)", output_dir,
              ", ".join(f"{split}: {stats['rows']} rows" for split, stats in metadata["splits"].items()))
    return metadata


def check_counts(spec: Spec, counts: dict) -> None:
    """Every split has rows; every task has positive and negative rows in every split."""
    problems = []
    for rule in spec.splits.rules:
        stats = counts.get("splits", {}).get(rule.split)
        if not stats or not stats["rows"]:
            problems.append(f"split {rule.split!r} is empty: no input row matches {_describe(rule)}")
            continue
        for task in spec.tasks:
            rows, positives = stats["tasks"][task.name]["rows"], stats["tasks"][task.name]["positives"]
            where = f"task {task.name!r} in split {rule.split!r} ({rows} rows)"
            if not rows:
                problems.append(f"{where}: no row in its segment {task.segment}")
            elif positives in (0, rows):
                kind = "positive" if positives == 0 else "negative"
                problems.append(f"{where}: no {kind} row; label column {task.label!r} maps to {positives // rows} "
                                f"everywhere ({_mapping(task)})")
    if problems:
        raise InputError(f"ingest of spec {spec.name!r}:\n  " + "\n  ".join(problems))


def _build(pipeline, spec: Spec, checked: CheckedInput, out_dir: str) -> None:
    ranges = hash_ranges(spec.splits)
    read_schema = text_schema(checked.column_names) if spec.input.format == "csv" else _example_schema(spec, checked)
    outputs: dict[str, list] = {split: [] for split in spec.splits.names}
    counts = []
    for index, (pattern, rules) in enumerate(checked.plan.items()):
        source = tfxio_source(spec.input, pattern, checked.column_names, read_schema)
        tagged = (
            pipeline
            | f"Read[{index}]" >> source.BeamSource()
            | f"Progress[{index}]" >> beam.ParDo(LogProgress(f"ingest: {os.path.basename(pattern)}"))
            | f"Split[{index}]" >> beam.ParDo(_SplitRows(spec, pattern, rules, ranges)).with_outputs(
                _COUNTS, *{rule.split for rule in rules}
            )
        )
        for rule in rules:
            outputs[rule.split].append(tagged[rule.split])
        counts.append(tagged[_COUNTS])
    for split, parts in outputs.items():
        _ = (
            parts
            | f"Flatten[{split}]" >> beam.Flatten()
            | f"Write[{split}]"
            >> beam.io.WriteToTFRecord(os.path.join(out_dir, split, "part"), file_name_suffix=".tfrecord")
        )
    _ = (
        counts
        | "FlattenCounts" >> beam.Flatten()
        | "SumCounts" >> beam.CombineGlobally(_sum_counts)
        | "CountsJson" >> beam.Map(json.dumps)
        | "WriteCounts" >> beam.io.WriteToText(os.path.join(out_dir, _COUNTS), shard_name_template="")
    )


def _example_schema(spec: Spec, checked: CheckedInput):
    """tf.Example input: the spec's columns as declared, split columns as the input schema has them."""
    feature_spec = dict(logged_data_feature_spec(spec))
    dtypes = column_dtypes(checked.schema)
    for name in spec.splits.columns():
        feature_spec.setdefault(name, tf.io.VarLenFeature(TF_DTYPES[dtypes[name]]))
    return schema_from_spec(feature_spec)


class _SplitRows(beam.DoFn):
    """Record batch -> each row's tf.Example, tagged with its split, plus the batch's counts."""

    def __init__(self, spec: Spec, pattern: str, rules: tuple[SplitRule, ...], ranges: dict):
        self.spec, self.pattern, self.rules, self.ranges = spec, pattern, rules, ranges
        self.dtypes = {name: dtype for name, (_, dtype) in read_columns(spec).items() if dtype}
        self.columns = list(logged_data_feature_spec(spec))

    def setup(self):
        self.encoder = example_coder.RecordBatchToExamplesEncoder()

    def process(self, batch: pa.RecordBatch):
        if self.spec.input.format == "csv":
            try:
                batch = clean_batch(batch, self.dtypes, self.spec.input.missing_values)
            except CsvValueError as error:
                raise InputError(f"{self.pattern}: {error}") from error
        assigned = assign_splits(batch, self.rules, self.ranges, self.spec.splits.hash_key)
        examples = self.encoder.encode(batch.select(self.columns))
        yield beam.pvalue.TaggedOutput(_COUNTS, split_counts(self.spec, examples, assigned, self.rules))
        for index, rule in enumerate(self.rules):
            for row in np.flatnonzero(assigned == index):
                yield beam.pvalue.TaggedOutput(rule.split, examples[row])


def split_counts(spec: Spec, examples: list[bytes], assigned: np.ndarray, rules: tuple[SplitRule, ...]) -> dict:
    """Rows per split and, per task, rows in its segment and positives; rows joining no split."""
    segment_features = {task.segment.feature for task in spec.tasks if task.segment is not None}
    parse_spec = {**label_feature_spec(spec), **{name: serving_feature_spec(spec)[name] for name in segment_features}}
    raw = tf.io.parse_example(tf.constant(examples, tf.string), parse_spec)
    labels = {name: values.numpy() for name, values in task_labels(spec, raw).items()}
    in_segment = {
        task.name: segment_indicator(task, raw, spec).numpy() > 0 if task.segment else np.ones(len(examples), bool)
        for task in spec.tasks
    }
    splits = {}
    for index, rule in enumerate(rules):
        rows = assigned == index
        splits[rule.split] = {
            "rows": int(rows.sum()),
            "tasks": {
                task.name: {
                    "rows": int((rows & in_segment[task.name]).sum()),
                    "positives": int(labels[task.name][rows & in_segment[task.name]].sum()),
                }
                for task in spec.tasks
            },
        }
    return {"unassigned": int((assigned < 0).sum()), "splits": splits}


def _sum_counts(parts) -> dict:
    """Adds nested count dictionaries key by key."""
    total: dict = {}
    for part in parts:
        _add_into(total, part)
    return total


def _add_into(total: dict, part: dict) -> None:
    for key, value in part.items():
        if isinstance(value, dict):
            _add_into(total.setdefault(key, {}), value)
        else:
            total[key] = total.get(key, 0) + value


def _metadata(spec: Spec, checked: CheckedInput, counts: dict) -> dict:
    ranges = hash_ranges(spec.splits)
    splits = {}
    for split in spec.splits.names:
        stats = counts["splits"][split]
        tasks = stats["tasks"]
        splits[split] = {
            "rows": stats["rows"],
            "task_rows": {name: task["rows"] for name, task in tasks.items()},
            "positive_rate": {name: task["positives"] / task["rows"] for name, task in tasks.items()},
        }
    return {
        "spec": spec.name,
        "format": spec.input.format,
        "files": {pattern: matching_files(pattern) for pattern in checked.plan},
        "split_rules": {
            rule.split: {"rule": _describe(rule), "hash_range": ranges[rule.split]} for rule in spec.splits.rules
        },
        "hash_key": spec.splits.hash_key,
        "schema": SCHEMA_FILE,
        "input_schema": INPUT_SCHEMA_FILE,
        "input_schema_inferred": checked.inferred,
        "validated_sample_rows": checked.sample_rows,
        "unassigned_rows": counts.get("unassigned", 0),
        "splits": splits,
    }


def _describe(rule: SplitRule) -> str:
    parts = [f"files {list(rule.files)}" if rule.files else "input.files"]
    if rule.column:
        parts.append(f"{rule.column} in {list(rule.values)}")
    if rule.fraction is not None:
        parts.append(f"fraction {rule.fraction:g}")
    return f"rule {rule.split!r} ({', '.join(parts)})"


def _mapping(task) -> str:
    if task.positive_values is not None:
        return f"positive_values {list(task.positive_values)}"
    return f"label > {task.threshold or 0:g}"
