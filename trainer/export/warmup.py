"""TF Serving warmup requests: PredictionLog records written into assets.extra/.

TF Serving replays these at load time, before the version takes traffic, so the first real
requests do not pay for graph initialisation and table loading.
"""
from __future__ import annotations

import os

import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

from trainer.export.load_check import signature_inputs
from trainer.training.input import compression_type, list_files

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
WARMUP_BATCH_SIZES = (1, 16, 128)
WARMUP_ROWS = max(WARMUP_BATCH_SIZES)  # raw rows a version keeps for its warmup requests


def predict_request(
    inputs: dict, model_name: str, signature_name: str, version: int | None = None
) -> predict_pb2.PredictRequest:
    """A PredictRequest feeding each named input (an array) to the signature, as TensorProtos."""
    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature_name))
    if version is not None:
        request.model_spec.version.value = version
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request


def write_warmup_requests(saved_model_dir: str, card: dict, serialized_examples: list[bytes], model_name: str) -> str:
    """Writes a request per signature of the card and batch size in WARMUP_BATCH_SIZES.

    Batch sizes are capped by the rows given. Every signature is warmed: TF Serving runs each
    one as its own subgraph, whose first call would otherwise pay for its initialisation.
    """
    if not serialized_examples:
        raise ValueError("warmup needs at least one raw example")
    sizes = sorted({min(size, len(serialized_examples)) for size in WARMUP_BATCH_SIZES})
    path = os.path.join(saved_model_dir, WARMUP_FILE)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for signature in sorted(card["signatures"]):
            inputs = signature_inputs(card, signature, serialized_examples[: sizes[-1]])
            for size in sizes:
                request = predict_request({name: value[:size] for name, value in inputs.items()}, model_name, signature)
                log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
                writer.write(log.SerializeToString())
    return path


def read_warmup_requests(saved_model_dir: str) -> list[prediction_log_pb2.PredictionLog]:
    """Parses the warmup file back, as TF Serving does."""
    path = os.path.join(saved_model_dir, WARMUP_FILE)
    return [
        prediction_log_pb2.PredictionLog.FromString(record.numpy())
        for record in tf.data.TFRecordDataset(path)
    ]


def request_rows(raw_pattern: str, feature_names: list[str], count: int) -> list[bytes]:
    """The first `count` raw rows matching `raw_pattern`, reduced to the model's features.

    Labels and evaluation columns are dropped: a serving request carries features only.
    """
    rows = []
    files = list_files(raw_pattern)
    for record in tf.data.TFRecordDataset(files, compression_type=compression_type(files)).take(count):
        example = tf.train.Example.FromString(record.numpy())
        kept = tf.train.Example()
        for name in feature_names:
            if name in example.features.feature:
                kept.features.feature[name].CopyFrom(example.features.feature[name])
        rows.append(kept.SerializeToString())
    return rows
