"""TF Serving warmup requests: PredictionLog records written into assets.extra/.

TF Serving replays these at load time, before the version takes traffic, so the first real
requests do not pay for graph initialisation and table loading.
"""
from __future__ import annotations

import os

import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
WARMUP_BATCH_SIZES = (1, 16, 128)


def predict_request(serialized_examples: list[bytes], model_name: str, signature_name: str) -> predict_pb2.PredictRequest:
    """A PredictRequest feeding serialized tf.Examples to the signature's `examples` input."""
    request = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature_name)
    )
    request.inputs["examples"].CopyFrom(tf.make_tensor_proto(serialized_examples, dtype=tf.string))
    return request


def write_warmup_requests(saved_model_dir: str, serialized_examples: list[bytes], model_name: str,
                          signature_name: str) -> str:
    """Writes one request per batch size in WARMUP_BATCH_SIZES (capped by the rows given)."""
    if not serialized_examples:
        raise ValueError("warmup needs at least one raw example")
    path = os.path.join(saved_model_dir, WARMUP_FILE)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for batch_size in sorted({min(size, len(serialized_examples)) for size in WARMUP_BATCH_SIZES}):
            request = predict_request(serialized_examples[:batch_size], model_name, signature_name)
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
    for record in tf.data.TFRecordDataset(sorted(tf.io.gfile.glob(raw_pattern))).take(count):
        example = tf.train.Example.FromString(record.numpy())
        kept = tf.train.Example()
        for name in feature_names:
            if name in example.features.feature:
                kept.features.feature[name].CopyFrom(example.features.feature[name])
        rows.append(kept.SerializeToString())
    return rows
