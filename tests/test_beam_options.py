"""Beam pipeline options through `feedrank transform`: pass-through, and multi-processing.

The DirectRunner in multi_processing mode runs the pipeline in two worker processes, which
unpickle every DoFn and import the package themselves; their transform must equal the
in-memory one. The command runs as users run it, in its own process: what the test process
imported (tfx, whose TFDV registers a Beam coder the workers cannot load) does not leak into it. Mean and variance are float32 sums combined in another order across workers,
so z-scored numerics agree to their rounding (1e-5); vocabularies and indices agree exactly.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
from apache_beam.options.pipeline_options import DirectOptions, GoogleCloudOptions, PipelineOptions, StandardOptions

from pipeline import cli
from transform.beam_pipeline import run_transform
from transform.simulator.config import SimulatorConfig
from transform.simulator.simulate import simulate
from transform.spec import packaged_spec
from transform.splits import REQUIRED_SPLITS, split_patterns, transformed_pattern

pytestmark = pytest.mark.e2e  # runs the real pipeline: `make test` runs it, `make test-fast` does not

MULTI_PROCESSING = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
FEEDRANK = os.path.join(os.path.dirname(sys.executable), "feedrank")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("beam_options")
    data_dir = str(root / "data")
    simulate(SimulatorConfig(seed=5, n_users=300, n_pins=800, n_creators=100, train_rows=4_000, eval_rows=800,
                             calibration_rows=800, rows_per_shard=1_000), data_dir)
    in_memory = run_transform(packaged_spec(), split_patterns(data_dir), str(root / "in_memory"))
    subprocess.run([FEEDRANK, "transform", "--data", data_dir, "--output", str(root / "multi"), *MULTI_PROCESSING],
                   check=True)
    return {"data": data_dir, "in_memory": in_memory, "multi": str(root / "multi")}


def test_every_unknown_flag_reaches_beam_unchanged():
    args, beam_args = cli.build_parser().parse_known_args([
        "transform", "--data", "d", "--output", "o", "--runner", "DataflowRunner", "--project=my-project",
        "--region", "europe-west4", "--temp_location=gs://bucket/tmp", *MULTI_PROCESSING,
    ])
    assert (args.data, args.output) == ("d", "o")
    options = PipelineOptions(beam_args)
    cloud = options.view_as(GoogleCloudOptions)
    assert options.view_as(StandardOptions).runner == "DataflowRunner"
    assert (cloud.project, cloud.region, cloud.temp_location) == ("my-project", "europe-west4", "gs://bucket/tmp")
    direct = options.view_as(DirectOptions)
    assert (direct.direct_running_mode, direct.direct_num_workers) == ("multi_processing", 2)


def test_multi_processing_learns_the_same_vocabularies(runs):
    in_memory, multi = tft.TFTransformOutput(runs["in_memory"]), tft.TFTransformOutput(runs["multi"])
    assert multi.transformed_feature_spec() == in_memory.transformed_feature_spec()
    for feature in (feature for feature in packaged_spec().features if feature.is_categorical):
        vocabulary = in_memory.vocabulary_by_name(feature.name)
        assert len(vocabulary) > 1
        assert multi.vocabulary_by_name(feature.name) == vocabulary


def test_multi_processing_analyzers_transform_raw_rows_alike(runs):
    """Both transform graphs applied to the same raw eval rows: the analyzers' outputs at work."""
    raw_records = tf.stack(list(tf.data.TFRecordDataset(tf.io.gfile.glob(split_patterns(runs["data"])["eval"]))))
    outputs = []
    for transform_dir in (runs["in_memory"], runs["multi"]):
        output = tft.TFTransformOutput(transform_dir)
        raw = tf.io.parse_example(raw_records, output.raw_feature_spec())
        outputs.append({name: value.numpy() for name, value in output.transform_features_layer()(raw).items()})
    _assert_same_columns(*outputs)


@pytest.mark.parametrize("split", REQUIRED_SPLITS)
def test_multi_processing_writes_the_same_examples_in_any_order(runs, split):
    in_memory, multi = _sorted_rows(runs["in_memory"], split), _sorted_rows(runs["multi"], split)
    assert len(next(iter(in_memory.values()))) == {"train": 4_000, "eval": 800, "calibration": 800}[split]
    _assert_same_columns(in_memory, multi)


def _assert_same_columns(expected: dict, actual: dict) -> None:
    assert sorted(actual) == sorted(expected)
    for name, values in expected.items():
        if values.dtype.kind == "f":
            np.testing.assert_allclose(actual[name], values, rtol=1e-5, atol=1e-5, err_msg=name)
        else:
            np.testing.assert_array_equal(actual[name], values, err_msg=name)


def _sorted_rows(transform_dir: str, split: str) -> dict[str, np.ndarray]:
    """Every transformed example of a split, as columns, rows sorted by their integer columns then floats."""
    feature_spec = tft.TFTransformOutput(transform_dir).transformed_feature_spec()
    records = tf.stack(list(tf.data.TFRecordDataset(tf.io.gfile.glob(transformed_pattern(transform_dir, split)))))
    columns = {name: value.numpy() for name, value in tf.io.parse_example(records, feature_spec).items()}
    integers = sorted(name for name, values in columns.items() if values.dtype.kind == "i")
    floats = sorted(name for name in columns if name not in integers)
    keys = [columns[name] for name in integers] + [np.round(columns[name], 4) for name in floats]
    order = np.lexsort(keys[::-1])
    return {name: values[order] for name, values in columns.items()}
