"""Clients for a feedrank model on TF Serving: REST JSON and gRPC PredictRequest.

Ranking a candidate list, one user and N pins (highest utility first):

    from serving.client import GrpcClient, RestClient, rank_candidates
    from transform.spec import packaged_spec

    client = RestClient(packaged_spec(), "http://localhost:8501")   # or GrpcClient(spec, "localhost:8500")
    user = {"user_id": 42, "country": "US", "user_state": "core", "device": "ios", "hour": 20}
    pins = [
        {"pin_id": 1017, "pin_type": "video", "topic": "recipes", "creator_id": 7, "pin_age_days": 3.0},
        {"pin_id": 2203, "pin_type": "image", "topic": "travel", "creator_id": 91, "pin_age_days": 40.0},
    ]
    for pin, utility in rank_candidates(client, user, pins):
        print(pin["pin_id"], utility)
    # this request's own utility weights, one per task:
    weights = {"closeup": 1, "click": 2, "long_click": 4, "save": 12, "hide": -40, "video_watch": 3}
    ranked = rank_candidates(client, user, pins, utility_weights=weights)

A row is a dict of raw feature values: a feature left out gets its declared default, an
unknown category its OOV bucket; a key that is not a feature is an error (a typo would
otherwise silently score the default). The REST client posts the rows in TF Serving's row
format (`{"instances": [{feature: value, ...}, ...]}`) to `serving_raw` (`serving_raw_weighted`
with weights); the gRPC client sends serialized tf.Examples to `serving_default`
(`serving_weighted`). Either returns {output: [rows] array}: one calibrated probability per
task and `utility`.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from trainer.export.signatures import (
    SERVING_DEFAULT, SERVING_RAW, SERVING_RAW_WEIGHTED, SERVING_WEIGHTED, UTILITY_WEIGHTS,
)
from trainer.export.warmup import predict_request
from trainer.model.scoring import UTILITY
from transform.rows import complete_row, to_example
from transform.spec import Spec


class ScoringClient:
    """Shared by both transports: rows -> request -> response -> {output: array}."""

    def __init__(self, spec: Spec, model_name: str | None = None, version: int | None = None,
                 timeout_seconds: float = 1.0):
        self.spec = spec
        self.model_name = model_name or spec.name
        self.version = version
        self.timeout_seconds = timeout_seconds

    def score(self, rows: list[dict], utility_weights: dict[str, float] | None = None) -> dict[str, np.ndarray]:
        """Calibrated probabilities and utility for each row, in row order."""
        if not rows:
            return {name: np.zeros(0, np.float32) for name in (*self.spec.task_names, UTILITY)}
        return self.parse_response(self.send(self.request(rows, utility_weights)))


class RestClient(ScoringClient):
    """TF Serving's REST API: POST /v1/models/<name>[/versions/<v>]:predict, row format."""

    def __init__(self, spec: Spec, url: str = "http://localhost:8501", **kwargs):
        super().__init__(spec, **kwargs)
        self.url = url.rstrip("/")

    def request(self, rows: list[dict], utility_weights: dict[str, float] | None = None) -> tuple[str, dict]:
        """(URL, JSON body) of the predict call."""
        instances = [complete_row(self.spec, row) for row in rows]
        if utility_weights is not None:
            weights = weight_vector(self.spec, utility_weights).tolist()
            instances = [{**instance, UTILITY_WEIGHTS: weights} for instance in instances]
        version = f"/versions/{self.version}" if self.version is not None else ""
        signature = SERVING_RAW if utility_weights is None else SERVING_RAW_WEIGHTED
        body = {"signature_name": signature, "instances": instances}
        return f"{self.url}/v1/models/{self.model_name}{version}:predict", body

    def send(self, request: tuple[str, dict]) -> dict:
        url, body = request
        http_request = urllib.request.Request(
            url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(http_request, timeout=self.timeout_seconds) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"{url}: HTTP {error.code}: {error.read().decode(errors='replace')}") from error

    @staticmethod
    def parse_response(body: dict) -> dict[str, np.ndarray]:
        """{"predictions": [{output: value}, ...]} -> {output: [rows] array}."""
        predictions = body["predictions"]
        return {name: np.array([row[name] for row in predictions], np.float32) for name in predictions[0]}


class GrpcClient(ScoringClient):
    """TF Serving's gRPC PredictionService.Predict with serialized tf.Examples."""

    def __init__(self, spec: Spec, target: str = "localhost:8500", **kwargs):
        super().__init__(spec, **kwargs)
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(target))

    def request(self, rows: list[dict], utility_weights: dict[str, float] | None = None) -> predict_pb2.PredictRequest:
        inputs = {"examples": np.array([to_example(self.spec, row) for row in rows], dtype=object)}
        if utility_weights is not None:
            inputs[UTILITY_WEIGHTS] = np.tile(weight_vector(self.spec, utility_weights), (len(rows), 1))
        signature = SERVING_DEFAULT if utility_weights is None else SERVING_WEIGHTED
        return predict_request(inputs, self.model_name, signature, self.version)

    def send(self, request: predict_pb2.PredictRequest) -> predict_pb2.PredictResponse:
        return self.stub.Predict(request, timeout=self.timeout_seconds)

    @staticmethod
    def parse_response(response: predict_pb2.PredictResponse) -> dict[str, np.ndarray]:
        return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}


def rank_candidates(client: ScoringClient, user: dict, pins: list[dict],
                    utility_weights: dict[str, float] | None = None) -> list[tuple[dict, float]]:
    """Scores one row per pin (the user's features joined to it); returns (pin, utility), best first."""
    utility = client.score([{**pin, **user} for pin in pins], utility_weights)[UTILITY]
    return [(pins[index], float(utility[index])) for index in np.argsort(-utility, kind="stable")]


def weight_vector(spec: Spec, utility_weights: dict[str, float]) -> np.ndarray:
    """The weights in the spec's task order; every task must be named, and nothing else."""
    missing = [name for name in spec.task_names if name not in utility_weights]
    unknown = sorted(set(utility_weights) - set(spec.task_names))
    if missing or unknown:
        raise ValueError(
            f"utility_weights must name every task exactly: missing {missing}, unknown {unknown}; "
            f"tasks {list(spec.task_names)}"
        )
    return np.array([utility_weights[name] for name in spec.task_names], np.float32)
