"""An in-process client: an export version's signatures called directly, without a server.

It takes and returns what the REST and gRPC clients of `serving.client` do, so
`rank_candidates` and any code written against them can try an export before it is served:

    client = LocalClient(packaged_spec(), "runs/default/export/1700000000")
    for pin, utility in rank_candidates(client, user, pins, utility_weights={...}):
        ...

Rows become serialized tf.Examples for `serving_default` (`serving_weighted` with weights),
the path TF Serving's gRPC API takes.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from serving.client import ScoringClient, weight_vector
from trainer.export.signatures import EXAMPLES, SERVING_DEFAULT, SERVING_WEIGHTED, UTILITY_WEIGHTS
from transform.rows import to_example
from transform.spec import Spec


class LocalClient(ScoringClient):
    """Scores rows with an export version loaded by `tf.saved_model.load` in this process."""

    def __init__(self, spec: Spec, version_dir: str):
        super().__init__(spec)
        self.model = tf.saved_model.load(version_dir)

    def request(self, rows: list[dict], utility_weights: dict[str, float] | None = None) -> tuple[str, dict]:
        """(signature name, its inputs) for the rows."""
        inputs = {EXAMPLES: tf.constant([to_example(self.spec, row) for row in rows])}
        if utility_weights is None:
            return SERVING_DEFAULT, inputs
        inputs[UTILITY_WEIGHTS] = tf.constant(np.tile(weight_vector(self.spec, utility_weights), (len(rows), 1)))
        return SERVING_WEIGHTED, inputs

    def send(self, request: tuple[str, dict]) -> dict:
        signature, inputs = request
        return self.model.signatures[signature](**inputs)

    @staticmethod
    def parse_response(outputs: dict) -> dict[str, np.ndarray]:
        return {name: tensor.numpy() for name, tensor in outputs.items()}
