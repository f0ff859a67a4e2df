"""Latency of ranking one request (one user, 500 pins) through `serving_default`, against bare Keras.

    .venv/bin/python bench/serving_latency.py [--run-dir runs/default] [--requests 2000] [--export VERSION_DIR]
        [--results PATH]

A request is 500 serialized raw tf.Examples: one user's features joined to 500 different
pins from the run's eval split. The served side is `serving_default` of an export loaded with
`tf.saved_model.load` (parse, tf.Transform, backbone, calibrators, utility, input guards); by
default the run's trained model is exported afresh into a temporary directory, so the figures
are those of the current export code (`--export` times an existing version instead). The
baseline is the bare Keras scoring model (`<run-dir>/model`) in a tf.function, on the same
candidates already transformed. Both are timed in one process, alternating request by request,
so that load from other processes on the machine falls on both alike. Prints and writes
bench/results/serving_latency.json (or `--results`): p50, p99 and mean milliseconds per side
and their ratios, with the machine's load average around the run.
"""
import argparse
import json
import logging
import os
import tempfile
import time

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from record import run_record

from pipeline.end_to_end import export_stage
from trainer.config import RunConfig
from trainer.evaluation.predict import parse_raw, transform_raw
from trainer.export.signatures import SERVING_DEFAULT
from trainer.export.warmup import request_rows
from trainer.model.scoring import UTILITY
from trainer.training.train import load_trained
from transform.common.files import write_json
from transform.common.logs import configure_logging
from transform.simulator.history import HISTORY_COUNTERS
from transform.spec import packaged_spec
from transform.splits import split_patterns

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "serving_latency.json")
# Features of the request's user; the rest describe the candidate pin (the user x topic counters
# stay those of the candidate's own row: only their size matters for latency).
USER_FEATURES = ("user_id", "country", "user_state", "device", "hour",
                 *(f"user_{counter}_30d" for counter in HISTORY_COUNTERS))
DISTINCT_REQUESTS = 20
WARMUP_REQUESTS = 50
_LOG = logging.getLogger("serving_latency")


def candidate_requests(spec, eval_pattern: str, candidates: int) -> list[list[bytes]]:
    """DISTINCT_REQUESTS requests; request k joins eval row k's user to `candidates` other rows' pins."""
    rows = request_rows(eval_pattern, [f.name for f in spec.features], DISTINCT_REQUESTS * candidates)
    if len(rows) < DISTINCT_REQUESTS * candidates:
        raise ValueError(f"{eval_pattern}: {len(rows)} rows, fewer than the {DISTINCT_REQUESTS} requests x "
                         f"{candidates} candidates the bench sends")
    requests = []
    for k in range(DISTINCT_REQUESTS):
        user = tf.train.Example.FromString(rows[k * candidates]).features.feature
        request = []
        for row in rows[k * candidates:(k + 1) * candidates]:
            candidate = tf.train.Example.FromString(row)
            for name in USER_FEATURES:
                candidate.features.feature[name].CopyFrom(user[name])
            request.append(candidate.SerializeToString())
        requests.append(request)
    return requests


def percentiles(milliseconds: list[float]) -> dict:
    values = np.asarray(milliseconds)
    return {"p50": round(float(np.percentile(values, 50)), 3), "p99": round(float(np.percentile(values, 99)), 3),
            "mean": round(float(values.mean()), 3)}


def time_alternating(served, keras, served_inputs, keras_inputs, requests: int) -> tuple[list, list]:
    """Milliseconds per call of each side, the two sides taking turns on the same request."""
    served_ms, keras_ms = [], []
    for index in range(WARMUP_REQUESTS + requests):
        k = index % len(served_inputs)
        for function, inputs, times in ((served, served_inputs[k], served_ms), (keras, keras_inputs[k], keras_ms)):
            start = time.perf_counter()
            function(inputs)[UTILITY].numpy()
            times.append((time.perf_counter() - start) * 1e3)
        if index >= WARMUP_REQUESTS and (index - WARMUP_REQUESTS + 1) % 500 == 0:
            _LOG.info("timed %d/%d requests", index - WARMUP_REQUESTS + 1, requests)
    return served_ms[WARMUP_REQUESTS:], keras_ms[WARMUP_REQUESTS:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", default="runs/default", help="a finished run: model/, transform/, data/")
    parser.add_argument("--requests", type=int, default=2000, help="timed requests per side (at least 1,000)")
    parser.add_argument("--candidates", type=int, default=500, help="pins per request")
    parser.add_argument("--export", help="an existing export version to time instead of a fresh export")
    parser.add_argument("--results", default=RESULTS, help="where the figures go (JSON)")
    args = parser.parse_args()
    if args.requests < 1000:
        parser.error("--requests: p99 needs at least 1,000 requests")
    configure_logging()
    load_start = os.getloadavg()
    spec = packaged_spec()
    transform_dir = os.path.join(args.run_dir, "transform")
    eval_pattern = split_patterns(os.path.join(args.run_dir, "data"))["eval"]
    trained = load_trained(os.path.join(args.run_dir, "model"))
    with tempfile.TemporaryDirectory() as tmp_dir:
        export = args.export or export_stage(RunConfig.resolved(spec), transform_dir, trained, eval_pattern, tmp_dir)
        serving_default = tf.saved_model.load(export).signatures[SERVING_DEFAULT]
        requests = candidate_requests(spec, eval_pattern, args.candidates)
        tft_layer = tft.TFTransformOutput(transform_dir).transform_features_layer()
        transformed = [transform_raw(spec, tft_layer, parse_raw(spec, tf.constant(request))) for request in requests]
        keras = tf.function(lambda features: trained.scoring_model(features, training=False))
        _LOG.info("timing %d requests of %d candidates on each side", args.requests, args.candidates)
        served_ms, keras_ms = time_alternating(
            lambda examples: serving_default(examples=examples), keras,
            [tf.constant(request) for request in requests], transformed, args.requests,
        )
    served, bare = percentiles(served_ms), percentiles(keras_ms)
    figures = {
        **run_record(load_start),
        "threads": {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                    "inter_op": tf.config.threading.get_inter_op_parallelism_threads()},
        "export": args.export or "fresh export of <run-dir>/model",
        "requests": args.requests,
        "candidates_per_request": args.candidates,
        "serving_default_ms": served,
        "bare_keras_ms": bare,
        "ratio": {key: round(served[key] / bare[key], 3) for key in served},
        "goal": {"serving_default_p99_ms": 15.0, "ratio": 1.5},
    }
    write_json(figures, args.results)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
