"""Serving: every signature of a real export, loaded the way TF Serving loads it.

One small pipeline per module (simulate, Beam transform, train, calibrate, export). The export
is reweighted, loaded in fresh processes that import only TensorFlow (TF2 and TF1 loaders),
fed bad input, and served to the REST and gRPC clients through local servers that decode
requests the way TF Serving does and run the loaded signatures.
"""
import concurrent.futures
import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading

import grpc
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format, wrappers_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
from tensorflow_serving.config import model_server_config_pb2

from pipeline import cli
from pipeline.end_to_end import run_end_to_end
from serving.client import GrpcClient, RestClient, rank_candidates, weight_vector
from serving.derive import derive_version
from serving.reweight import parse_weights, reweight
from tests.helpers import example, write_records
from trainer.config import RunConfig
from trainer.evaluation.predict import score_examples
from trainer.export import load_check
from trainer.export.model_card import read_card
from trainer.export.signatures import (
    HEAD_LOGITS,
    SERVING_DEFAULT,
    SERVING_RAW,
    SERVING_RAW_WEIGHTED,
    SERVING_WEIGHTED,
    SIGNATURES,
    TRANSFORM_FEATURES,
    UTILITY_WEIGHTS,
    ServingModule,
)
from trainer.export.versions import list_versions
from trainer.export.warmup import WARMUP_BATCH_SIZES, WARMUP_FILE, read_warmup_requests, request_rows
from trainer.hparams import HParams
from trainer.training.train import load_trained
from transform.rows import complete_row
from transform.simulator.config import SimulatorConfig
from transform.spec import packaged_spec
from transform.splits import split_patterns

pytestmark = pytest.mark.e2e  # runs the real pipeline: `make test` runs it, `make test-fast` does not

SPEC = packaged_spec()
TINY_WORLD = SimulatorConfig(
    seed=5, n_users=300, n_pins=1_000, n_creators=100, train_rows=12_000, eval_rows=3_000,
    calibration_rows=8_000, rows_per_shard=8_000,
)

TINY_MODEL = HParams(epochs=1, batch_size=512, bottom_units=(32,), tower_units=(8,), validation_steps=1)
REQUEST_WEIGHTS = [0.5, 1.0, 3.0, 12.0, -45.0, 2.0]   # spec task order
NEW_DEFAULTS = {"save": 12.0, "hide": -45.0}
USER_FEATURES = ("user_id", "country", "user_state", "device", "hour")
OUR_MODULES = {"transform", "trainer", "serving", "tensorflow_transform", "tfx_bsl", "tf_keras", "apache_beam"}
CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "serving", "config")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run_dir = str(tmp_path_factory.mktemp("serving") / "run")
    version_dir = run_end_to_end(RunConfig.resolved(SPEC, TINY_MODEL, TINY_WORLD), run_dir)["export_dir"]
    return {"dir": run_dir, "export_dir": os.path.dirname(version_dir), "version_dir": version_dir}


@pytest.fixture(scope="module")
def rows(run):
    """64 serialized raw eval rows, features only (what a request carries)."""
    return request_rows(split_patterns(os.path.join(run["dir"], "data"))["eval"], [f.name for f in SPEC.features], 64)


@pytest.fixture(scope="module")
def card(run):
    return read_card(run["version_dir"])


@pytest.fixture(scope="module")
def loaded(run):
    return tf.saved_model.load(run["version_dir"]).signatures


@pytest.fixture(scope="module")
def in_process(run):
    """The signatures of the in-process model the export was written from."""
    scoring_model = load_trained(os.path.join(run["dir"], "model")).scoring_model
    return ServingModule(SPEC, tft.TFTransformOutput(os.path.join(run["dir"], "transform")), scoring_model).signatures()


@pytest.fixture(scope="module")
def original_files(run):
    return _file_hashes(run["version_dir"])


@pytest.fixture(scope="module")
def reweighted(run, original_files):
    weights = [f"--weight={name}={value}" for name, value in NEW_DEFAULTS.items()]
    assert cli.main(["reweight", "--export-dir", run["export_dir"], *weights]) == 0
    return os.path.join(run["export_dir"], str(list_versions(run["export_dir"])[-1]))


@pytest.fixture(scope="module")
def fresh_process(run, reweighted, rows, tmp_path_factory):
    """load_check's outputs, original and reweighted version, each in its own TensorFlow-only process."""
    root = tmp_path_factory.mktemp("load_check")
    examples = write_records(str(root / "rows.tfrecord"), rows)
    env = {name: value for name, value in os.environ.items() if name != "TF_USE_LEGACY_KERAS"}
    weights = ",".join(str(w) for w in REQUEST_WEIGHTS)
    versions = (run["version_dir"], reweighted)
    outputs = {directory: str(root / f"{os.path.basename(directory)}.npz") for directory in versions}
    command = [sys.executable, load_check.__file__]
    processes = [
        subprocess.Popen([*command, directory, examples, path, f"--utility-weights={weights}"],
                         env={**env, "TF_CPP_MIN_LOG_LEVEL": "2"})
        for directory, path in outputs.items()
    ]
    assert [process.wait(timeout=300) for process in processes] == [0, 0]
    return {version_dir: dict(np.load(path)) for version_dir, path in outputs.items()}


def test_fresh_process_serves_every_signature_like_the_in_process_model(run, rows, card, in_process, fresh_process):
    outputs = fresh_process[run["version_dir"]]
    assert not OUR_MODULES & set(outputs["modules"])
    for loader in ("tf1", "tf2"):
        assert {key.split("/")[1] for key in outputs if key.startswith(loader)} == set(SIGNATURES)
    for name, function in in_process.items():
        expected = _call(function, load_check.signature_inputs(card, name, rows, REQUEST_WEIGHTS))
        assert expected, name
        for output, value in expected.items():
            for loader in ("tf1", "tf2"):
                np.testing.assert_allclose(outputs[f"{loader}/{name}/{output}"], value, rtol=1e-5, atol=1e-6,
                                           err_msg=f"{loader}/{name}/{output}")


def test_served_scores_are_the_scores_the_report_measures(run, loaded, rows):
    """serving_default parses to dense columns; the evaluation path parses sparse: same scores."""
    scoring_model = load_trained(os.path.join(run["dir"], "model")).scoring_model
    tft_layer = tft.TFTransformOutput(os.path.join(run["dir"], "transform")).transform_features_layer()
    requests = [*rows, _edit(rows[0], country=None, pin_age_days=None, slot=None), example()]
    evaluated = score_examples(SPEC, tft_layer, scoring_model, tf.constant(requests))
    served = _call(loaded[SERVING_DEFAULT], {"examples": np.array(requests, dtype=object)})
    for name, value in evaluated.items():
        np.testing.assert_allclose(served[name], value.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)


def test_utility_is_the_weighted_sum_of_calibrated_probabilities(fresh_process, run):
    outputs = fresh_process[run["version_dir"]]
    for loader in ("tf1", "tf2"):
        for name, weights in ((SERVING_DEFAULT, list(SPEC.utility_weights.values())),
                              (SERVING_WEIGHTED, REQUEST_WEIGHTS)):
            probabilities = np.stack([outputs[f"{loader}/{name}/{task}"] for task in SPEC.task_names], axis=1)
            assert np.all((probabilities >= 0) & (probabilities <= 1))
            utility = outputs[f"{loader}/{name}/utility"]
            np.testing.assert_allclose(utility, probabilities @ weights, rtol=1e-5, atol=1e-5)


def test_raw_feature_signatures_score_like_the_examples_signatures(loaded, rows, card):
    for raw, examples in ((SERVING_RAW, SERVING_DEFAULT), (SERVING_RAW_WEIGHTED, SERVING_WEIGHTED)):
        expected = _call(loaded[examples], load_check.signature_inputs(card, examples, rows, REQUEST_WEIGHTS))
        actual = _call(loaded[raw], load_check.signature_inputs(card, raw, rows, REQUEST_WEIGHTS))
        for name, value in expected.items():
            np.testing.assert_allclose(actual[name], value, rtol=1e-6, atol=1e-7, err_msg=f"{raw}/{name}")


def test_request_weights_apply_per_row(loaded, rows):
    weights = np.outer(1.0 + np.arange(len(rows)), REQUEST_WEIGHTS).astype(np.float32)
    outputs = _call(loaded[SERVING_WEIGHTED], {"examples": np.array(rows, dtype=object), UTILITY_WEIGHTS: weights})
    probabilities = np.stack([outputs[task] for task in SPEC.task_names], axis=1)
    np.testing.assert_allclose(outputs["utility"], (probabilities * weights).sum(axis=1), rtol=1e-5, atol=1e-5)


def test_head_logits_are_the_probabilities_before_calibration(loaded, rows, card):
    logits = _call(loaded[HEAD_LOGITS], {"examples": np.array(rows, dtype=object)})
    transformed = _call(loaded[TRANSFORM_FEATURES], {"examples": np.array(rows, dtype=object)})
    probabilities = _call(loaded[SERVING_DEFAULT], {"examples": np.array(rows, dtype=object)})
    for task in SPEC.tasks:
        expected = _calibrated(card["calibrators"][task.name], logits[task.name], transformed)
        if task.segment is not None:
            expected = expected * transformed[task.segment_key]
        np.testing.assert_allclose(probabilities[task.name], expected, rtol=1e-5, atol=1e-6, err_msg=task.name)


def test_transform_features_carries_labels_of_labeled_rows(run, loaded):
    files = sorted(tf.io.gfile.glob(split_patterns(os.path.join(run["dir"], "data"))["eval"]))
    labeled = [record.numpy() for record in tf.data.TFRecordDataset(files).take(200)]
    transformed = _call(loaded[TRANSFORM_FEATURES], {"examples": np.array(labeled, dtype=object)})
    for task in SPEC.tasks:
        labels = [tf.train.Example.FromString(row).features.feature[task.label].int64_list.value[0] for row in labeled]
        np.testing.assert_array_equal(transformed[task.label_key], np.array(labels) > 0, err_msg=task.name)


def test_missing_features_get_their_declared_defaults(loaded, rows):
    dropped = ("country", "pin_age_days", "hour", "pin_id", "slot")
    missing = _edit(rows[0], **{name: None for name in dropped})
    defaults = _edit(rows[0], **{name: SPEC.feature(name).missing_value for name in dropped})
    _assert_same_scores(loaded, missing, defaults)
    _assert_same_scores(loaded, example(), example(**{f.name: f.missing_value for f in SPEC.features}))


def test_unknown_categories_fall_in_the_oov_buckets(run, loaded, rows):
    unknown = _edit(rows[0], pin_type="hologram", country="Atlantis", pin_id=10**15, hour=99)
    transformed = _call(loaded[TRANSFORM_FEATURES], {"examples": np.array([unknown], dtype=object)})
    tft_output = tft.TFTransformOutput(os.path.join(run["dir"], "transform"))
    for name in ("pin_type", "country", "pin_id", "hour"):
        vocabulary = tft_output.vocabulary_size_by_name(name)
        assert vocabulary <= transformed[name][0] < vocabulary + SPEC.feature(name).oov_buckets, name
    scores = _call(loaded[SERVING_DEFAULT], {"examples": np.array([unknown], dtype=object)})
    assert all(np.isfinite(value).all() for value in scores.values())


@pytest.mark.parametrize("name, bad, same_as", [
    ("pin_age_days", float("nan"), 30.0),
    ("pin_age_days", float("inf"), 30.0),
    ("pin_age_days", float("-inf"), 30.0),
    ("pin_age_days", 1e30, 3650.0),
    ("pin_age_days", -7.0, 0.0),
    ("slot", 10**15, 200),
    ("slot", -3, 0),
])
def test_non_finite_and_huge_numerics_are_defaulted_or_clipped(loaded, rows, card, name, bad, same_as):
    _assert_same_scores(loaded, _edit(rows[1], **{name: bad}), _edit(rows[1], **{name: same_as}))
    raw = load_check.signature_inputs(card, SERVING_RAW, [_edit(rows[1], **{name: same_as})])
    expected = _call(loaded[SERVING_RAW], raw)
    raw[name] = np.array([bad], dtype=raw[name].dtype)
    np.testing.assert_array_equal(_call(loaded[SERVING_RAW], raw)["utility"], expected["utility"])


def test_empty_batch_returns_empty_outputs(loaded, card):
    for name, function in loaded.items():
        outputs = _call(function, load_check.signature_inputs(card, name, [], REQUEST_WEIGHTS))
        assert outputs and all(value.shape[0] == 0 for value in outputs.values()), name


def test_malformed_or_mistyped_example_is_invalid_argument(loaded, rows):
    two_values = tf.train.Example.FromString(rows[0])
    two_values.features.feature["slot"].int64_list.value.append(3)
    for bad in (b"\x0a\x07truncated", _edit(rows[0], pin_id="not an int"), two_values.SerializeToString()):
        with pytest.raises(tf.errors.InvalidArgumentError):
            loaded[SERVING_DEFAULT](examples=tf.constant([rows[0], bad]))


def test_raw_columns_of_different_lengths_are_invalid_argument(loaded, rows, card):
    inputs = load_check.signature_inputs(card, SERVING_RAW, rows)
    with pytest.raises(tf.errors.InvalidArgumentError):
        _call(loaded[SERVING_RAW], {**inputs, "pin_id": inputs["pin_id"][:-1]})


def test_bad_request_weights_are_invalid_argument_never_nan(loaded, rows, card):
    for name in (SERVING_WEIGHTED, SERVING_RAW_WEIGHTED):
        inputs = load_check.signature_inputs(card, name, rows, REQUEST_WEIGHTS)
        for bad in (np.nan, np.inf):
            weights = inputs[UTILITY_WEIGHTS].copy()
            weights[3, 4] = bad
            with pytest.raises(tf.errors.InvalidArgumentError, match="utility_weights must be finite"):
                _call(loaded[name], {**inputs, UTILITY_WEIGHTS: weights})
        with pytest.raises(tf.errors.InvalidArgumentError, match="one row per example"):
            _call(loaded[name], {**inputs, UTILITY_WEIGHTS: inputs[UTILITY_WEIGHTS][:-1]})


def test_overflowing_utility_is_invalid_argument(run, rows):
    certain = {f"{task}_calibrator/intercept": 60.0 for task in SPEC.task_names}
    huge = {"utility/task_weights": [3e38] * len(SPEC.tasks)}
    version_dir = derive_version(run["version_dir"], {**certain, **huge}, "test")
    signatures = tf.saved_model.load(version_dir).signatures
    with pytest.raises(tf.errors.InvalidArgumentError, match="utility is not finite"):
        signatures[SERVING_DEFAULT](examples=tf.constant(rows[:4]))
    weights = np.ones((4, len(SPEC.tasks)), np.float32)
    examples = np.array(rows[:4], dtype=object)
    outputs = _call(signatures[SERVING_WEIGHTED], {"examples": examples, UTILITY_WEIGHTS: weights})
    assert np.all(outputs["utility"] <= len(SPEC.tasks)) and np.all(outputs["utility"] >= len(SPEC.tasks) - 1)


def test_warmup_requests_cover_every_signature_and_are_accepted(run, loaded):
    sizes = {}
    for record in read_warmup_requests(run["version_dir"]):
        request = record.predict_log.request
        assert request.model_spec.name == SPEC.name
        name = request.model_spec.signature_name
        outputs = _call(loaded[name], {key: tf.make_ndarray(proto) for key, proto in request.inputs.items()})
        batch = {value.shape[0] for value in outputs.values()}
        assert len(batch) == 1, name
        sizes.setdefault(name, []).append(batch.pop())
    assert sizes == {name: list(WARMUP_BATCH_SIZES) for name in SIGNATURES}


def test_model_card_describes_the_export(run, card, loaded):
    assert card["utility_weights"] == {"order": list(SPEC.task_names), "values": [t.utility_weight for t in SPEC.tasks]}
    assert [(t["name"], t["utility_weight"]) for t in card["tasks"]] == list(SPEC.utility_weights.items())
    assert card["raw_features"] == [
        {"name": f.name, "dtype": f.dtype, "default": f.missing_value} for f in SPEC.features
    ]
    scoring_model = load_trained(os.path.join(run["dir"], "model")).scoring_model
    for task in SPEC.task_names:
        layer = scoring_model.get_layer(f"{task}_calibrator")
        weights = {weight.name.split("/")[-1].split(":")[0]: weight.numpy() for weight in layer.weights}
        assert set(weights) == set(card["calibrators"][task])
        for name, value in weights.items():
            np.testing.assert_array_equal(card["calibrators"][task][name], value, err_msg=f"{task}/{name}")
    assert set(card["signatures"]) == set(loaded)
    for name, function in loaded.items():
        specs = function.structured_input_signature[1]
        assert card["signatures"][name]["inputs"] == {
            key: {"dtype": spec.dtype.name, "shape": spec.shape.as_list()} for key, spec in specs.items()
        }
        assert card["signatures"][name]["outputs"] == sorted(function.structured_outputs)
    assert card["training_data"]["splits"]["train"]["rows"] > 0
    assert set(card["eval_report"]["tasks"]) == set(SPEC.task_names)


def test_reweighted_version_changes_only_the_default_utility(run, reweighted, fresh_process):
    old, new = fresh_process[run["version_dir"]], fresh_process[reweighted]
    assert old.keys() == new.keys()
    defaults = np.array([{**SPEC.utility_weights, **NEW_DEFAULTS}[name] for name in SPEC.task_names])
    for key in old:
        loader, signature, output = (key.split("/") + ["", ""])[:3]
        if output == "utility" and signature in (SERVING_DEFAULT, SERVING_RAW):
            probabilities = np.stack([new[f"{loader}/{signature}/{task}"] for task in SPEC.task_names], axis=1)
            np.testing.assert_allclose(new[key], probabilities @ defaults, rtol=1e-5, atol=1e-5)
            assert not np.allclose(new[key], old[key])
        elif key != "modules":
            np.testing.assert_array_equal(new[key], old[key], err_msg=key)


def test_reweight_touches_no_other_variable(run, reweighted):
    old = tf.train.load_checkpoint(os.path.join(run["version_dir"], "variables", "variables"))
    new = tf.train.load_checkpoint(os.path.join(reweighted, "variables", "variables"))
    keys = set(old.get_variable_to_shape_map()) - {"_CHECKPOINTABLE_OBJECT_GRAPH"}
    assert keys == set(new.get_variable_to_shape_map()) - {"_CHECKPOINTABLE_OBJECT_GRAPH"}
    changed = sorted(key for key in keys if not np.array_equal(old.get_tensor(key), new.get_tensor(key)))
    assert len(changed) == 1 and "/task_weights/" in changed[0]
    expected = [{**SPEC.utility_weights, **NEW_DEFAULTS}[name] for name in SPEC.task_names]
    np.testing.assert_array_equal(new.get_tensor(changed[0]), expected)


def test_reweight_keeps_the_source_version_and_records_the_change(run, card, original_files, reweighted):
    assert int(os.path.basename(reweighted)) > int(os.path.basename(run["version_dir"]))
    assert _file_hashes(run["version_dir"]) == original_files
    assert all(name.isdigit() for name in os.listdir(run["export_dir"]))
    new_card = read_card(reweighted)
    expected = [{**SPEC.utility_weights, **NEW_DEFAULTS}[name] for name in SPEC.task_names]
    assert new_card["utility_weights"] == {"order": list(SPEC.task_names), "values": expected}
    assert [task["utility_weight"] for task in new_card["tasks"]] == expected
    assert [task["utility_weight"] for task in new_card["spec"]["tasks"]] == expected
    assert new_card["derived_from"]["version"] == os.path.basename(run["version_dir"])
    assert new_card["derived_from"]["changes"] == {
        "utility/task_weights": {"from": [t.utility_weight for t in SPEC.tasks], "to": expected}
    }
    for same in ("calibrators", "signatures", "raw_features", "training_data", "eval_report"):
        assert new_card[same] == card[same], same
    assert _file_hashes(reweighted)[WARMUP_FILE] == original_files[WARMUP_FILE]


def test_derived_calibrator_parameters_recalibrate_the_probabilities(run, rows, card):
    intercept = card["calibrators"]["save"]["intercept"] + 0.5
    version_dir = derive_version(run["version_dir"], {"save_calibrator/intercept": intercept}, "recalibrate save")
    assert read_card(version_dir)["calibrators"]["save"]["intercept"] == pytest.approx(intercept)
    signatures = tf.saved_model.load(version_dir).signatures
    examples = {"examples": np.array(rows, dtype=object)}
    transformed = _call(signatures[TRANSFORM_FEATURES], examples)
    logits = _call(signatures[HEAD_LOGITS], examples)["save"]
    expected = _calibrated({**card["calibrators"]["save"], "intercept": intercept}, logits, transformed)
    np.testing.assert_allclose(_call(signatures[SERVING_DEFAULT], examples)["save"], expected, rtol=1e-5, atol=1e-6)


def test_bad_reweights_fail_naming_the_problem_and_write_nothing(run, reweighted):
    versions = list_versions(run["export_dir"])
    with pytest.raises(ValueError, match="unknown task"):
        reweight(run["export_dir"], {"saves": 3.0})
    with pytest.raises(ValueError, match="not finite"):
        reweight(run["export_dir"], {"save": float("nan")})
    with pytest.raises(KeyError, match="utility/task_weights"):
        derive_version(reweighted, {"utility/weights": [1.0]}, "test")
    with pytest.raises(ValueError, match="shape"):
        derive_version(reweighted, {"utility/task_weights": [1.0, 2.0]}, "test")
    for item in ("save", "=3", "save=much"):
        with pytest.raises(ValueError, match="TASK=VALUE"):
            parse_weights([item])
    assert list_versions(run["export_dir"]) == versions
    assert all(name.isdigit() for name in os.listdir(run["export_dir"]))


class _PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """gRPC Predict as TF Serving runs it: TensorProtos in, the signature, TensorProtos out."""

    def __init__(self, signatures):
        self.signatures = signatures

    def Predict(self, request, context):
        try:
            outputs = _call(self.signatures[request.model_spec.signature_name],
                            {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()})
        except tf.errors.InvalidArgumentError as error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, error.message)
        response = predict_pb2.PredictResponse(model_spec=request.model_spec)
        for name, value in outputs.items():
            response.outputs[name].CopyFrom(tf.make_tensor_proto(value))
        return response


def _rest_handler(signatures, model_name):
    class Handler(http.server.BaseHTTPRequestHandler):
        """REST predict as TF Serving decodes it: row format, one input tensor per key of the instances."""

        def do_POST(self):
            assert self.path == f"/v1/models/{model_name}:predict", self.path
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            function = signatures[body.get("signature_name", SERVING_DEFAULT)]
            specs = function.structured_input_signature[1]
            inputs = {
                name: np.array([instance[name] for instance in body["instances"]], dtype=spec.dtype.as_numpy_dtype)
                for name, spec in specs.items()
            }
            try:
                outputs = _call(function, inputs)
            except tf.errors.InvalidArgumentError as error:
                return self._reply(400, {"error": error.message})
            rows = len(body["instances"])
            predictions = [{name: value[i].item() for name, value in outputs.items()} for i in range(rows)]
            return self._reply(200, {"predictions": predictions})

        def _reply(self, status, payload):
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture(scope="module")
def clients(loaded):
    grpc_server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(_PredictionService(loaded), grpc_server)
    grpc_port = grpc_server.add_insecure_port("127.0.0.1:0")
    grpc_server.start()
    rest_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _rest_handler(loaded, SPEC.name))
    threading.Thread(target=rest_server.serve_forever, daemon=True).start()
    yield {
        "rest": RestClient(SPEC, f"http://127.0.0.1:{rest_server.server_port}", timeout_seconds=30),
        "grpc": GrpcClient(SPEC, f"127.0.0.1:{grpc_port}", timeout_seconds=30),
    }
    rest_server.shutdown()
    grpc_server.stop(None)


def test_clients_rank_a_candidate_list_as_the_export_scores_it(clients, loaded, rows):
    user, pins = _user_and_pins(rows)
    examples = np.array([example(**{**pin, **user}) for pin in pins], dtype=object)
    for weights, output in ((None, "utility"), ({task: float(task == "save") for task in SPEC.task_names}, "save")):
        scores = _call(loaded[SERVING_DEFAULT], {"examples": examples})[output]
        for name, client in clients.items():
            ranked = rank_candidates(client, user, pins, utility_weights=weights)
            expected = [pins[i]["pin_id"] for i in np.argsort(-scores, kind="stable")]
            assert [pin["pin_id"] for pin, _ in ranked] == expected, name
            np.testing.assert_allclose([utility for _, utility in ranked], np.sort(scores)[::-1], rtol=1e-5, atol=1e-6)


def test_clients_return_every_output_and_surface_server_errors(clients, rows):
    user, pins = _user_and_pins(rows)
    candidate_rows = [{**pin, **user} for pin in pins]
    rest, grpc_scores = clients["rest"].score(candidate_rows), clients["grpc"].score(candidate_rows)
    assert set(rest) == set(grpc_scores) == {*SPEC.task_names, "utility"}
    for name, value in rest.items():
        np.testing.assert_allclose(value, grpc_scores[name], rtol=1e-5, atol=1e-6)
    assert clients["rest"].score([])["utility"].shape == (0,)
    nan_weights = {**SPEC.utility_weights, "save": float("nan")}
    with pytest.raises(RuntimeError, match="utility_weights must be finite"):
        clients["rest"].score(candidate_rows, nan_weights)
    with pytest.raises(grpc.RpcError) as error:
        clients["grpc"].score(candidate_rows, nan_weights)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_client_rows_and_weights_are_checked_against_the_spec():
    assert complete_row(SPEC, {"pin_id": 7})["pin_age_days"] == 30.0
    with pytest.raises(ValueError, match="pin_typ"):
        complete_row(SPEC, {"pin_typ": "video"})
    with pytest.raises(ValueError, match=r"missing \['hide'\]"):
        weight_vector(SPEC, {name: 1.0 for name in SPEC.task_names if name != "hide"})
    np.testing.assert_array_equal(weight_vector(SPEC, SPEC.utility_weights), [t.utility_weight for t in SPEC.tasks])


def test_models_config_serves_the_spec_model_keeping_two_versions():
    with open(os.path.join(CONFIG_DIR, "models.config")) as handle:
        config = text_format.Parse(handle.read(), model_server_config_pb2.ModelServerConfig())
    (model,) = config.model_config_list.config
    assert (model.name, model.model_platform) == (SPEC.name, "tensorflow")
    assert model.model_version_policy.latest.num_versions == 2


def test_batching_parameters_parse_and_fit_a_ranking_request():
    with open(os.path.join(CONFIG_DIR, "batching_parameters.txt")) as handle:
        parameters = text_format.Parse(handle.read(), _batching_parameters())
    assert parameters.max_batch_size.value >= 500
    assert 0 < parameters.batch_timeout_micros.value <= 2_000
    assert parameters.num_batch_threads.value == 2 and parameters.max_enqueued_batches.value > 0


def _batching_parameters():
    """tensorflow.serving.BatchingParameters (session_bundle_config.proto), which the pip package lacks."""
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    proto = descriptor_pb2.FileDescriptorProto(
        name="batching_parameters.proto", package="tensorflow.serving", syntax="proto3",
        dependency=[wrappers.name],
    )
    message = proto.message_type.add(name="BatchingParameters")
    field = descriptor_pb2.FieldDescriptorProto
    for number, name, wrapper in ((1, "max_batch_size", "Int64Value"), (2, "batch_timeout_micros", "Int64Value"),
                                  (3, "max_enqueued_batches", "Int64Value"), (4, "num_batch_threads", "Int64Value"),
                                  (5, "thread_pool_name", "StringValue")):
        message.field.add(name=name, number=number, type=field.TYPE_MESSAGE, label=field.LABEL_OPTIONAL,
                          type_name=f".google.protobuf.{wrapper}")
    message.field.add(name="allowed_batch_sizes", number=6, type=field.TYPE_INT64, label=field.LABEL_REPEATED)
    message.field.add(name="pad_variable_length_inputs", number=7, type=field.TYPE_BOOL, label=field.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(wrappers)
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters"))()


def _call(function, inputs: dict) -> dict:
    return {name: value.numpy() for name, value in function(**{k: tf.constant(v) for k, v in inputs.items()}).items()}


def _assert_same_scores(loaded, row, same_as):
    for name in (SERVING_DEFAULT, HEAD_LOGITS):
        actual, expected = (_call(loaded[name], {"examples": np.array([r], dtype=object)}) for r in (row, same_as))
        for output, value in expected.items():
            assert np.isfinite(actual[output]).all(), output
            np.testing.assert_array_equal(actual[output], value, err_msg=f"{name}/{output}")


def _calibrated(parameters: dict, logit: np.ndarray, transformed: dict) -> np.ndarray:
    """p = sigmoid((slope + sum_s slope_s[x_s]) * logit + sum_j knot_slopes_j * max(0, logit - knots_j)
                   + intercept + sum_s offset_s[x_s])."""
    def segment_terms(prefix):
        return sum(np.take(values, transformed[name[len(prefix):]])
                   for name, values in parameters.items() if name.startswith(prefix))

    slope = parameters["slope"] + segment_terms("slope_")
    shift = parameters["intercept"] + segment_terms("offset_")
    hinges = np.maximum(np.asarray(logit)[:, None] - np.asarray(parameters.get("knots", [])), 0.0)
    shift = shift + hinges @ np.asarray(parameters.get("knot_slopes", []))
    return 1.0 / (1.0 + np.exp(-(slope * logit + shift)))


def _edit(serialized: bytes, **values) -> bytes:
    """The row with some features replaced (None: removed)."""
    return example(**{**_as_dict(serialized), **values})


def _as_dict(serialized: bytes) -> dict:
    row = {}
    for name, feature in tf.train.Example.FromString(serialized).features.feature.items():
        kind = feature.WhichOneof("kind")
        value = getattr(feature, kind).value[0]
        row[name] = value.decode() if kind == "bytes_list" else value
    return row


def _user_and_pins(rows: list[bytes]) -> tuple[dict, list[dict]]:
    """One user (the first row's) and 30 candidate pins, one of them missing its age."""
    user = {name: value for name, value in _as_dict(rows[0]).items() if name in USER_FEATURES}
    pins = [{name: value for name, value in _as_dict(row).items() if name not in USER_FEATURES} for row in rows[:30]]
    pins[3].pop("pin_age_days", None)
    return user, pins


def _file_hashes(directory: str) -> dict:
    hashes = {}
    for root, _, files in os.walk(directory):
        for name in files:
            with open(os.path.join(root, name), "rb") as handle:
                hashes[os.path.relpath(os.path.join(root, name), directory)] = hashlib.sha256(handle.read()).hexdigest()
    return hashes
