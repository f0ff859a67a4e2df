"""Checks that an export serves with TensorFlow alone, as TF Serving would load it.

    python serving/load_check.py EXPORT_VERSION_DIR EXAMPLES.tfrecord OUTPUT.npz

Runs `serving_default` on the serialized raw tf.Examples in EXAMPLES.tfrecord through two
loaders: `tf.saved_model.load` (TF2) and the TF1 session loader
(`tf.compat.v1.saved_model.loader.load`, the path TF Serving's C++ loader mirrors), and saves
every output as `<loader>/<name>` in OUTPUT.npz, plus `modules`: the top-level modules the
process imported. Imports nothing but TensorFlow and NumPy, so run it by path, in any
environment with TensorFlow installed.
"""
import sys

import numpy as np
import tensorflow as tf

SIGNATURE = "serving_default"


def serve_tf2(export_dir: str, examples: list) -> dict:
    loaded = tf.saved_model.load(export_dir)
    outputs = loaded.signatures[SIGNATURE](examples=tf.constant(examples, tf.string))
    return {name: value.numpy() for name, value in outputs.items()}


def serve_tf1(export_dir: str, examples: list) -> dict:
    with tf.compat.v1.Session(graph=tf.Graph()) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], export_dir)
        signature = meta_graph.signature_def[SIGNATURE]
        fetches = {name: info.name for name, info in signature.outputs.items()}
        return session.run(fetches, feed_dict={signature.inputs["examples"].name: examples})


def main(export_dir: str, examples_path: str, output_path: str) -> None:
    examples = [record.numpy() for record in tf.data.TFRecordDataset(examples_path)]
    results = {}
    for loader, serve in (("tf2", serve_tf2), ("tf1", serve_tf1)):
        for name, value in serve(export_dir, examples).items():
            results[f"{loader}/{name}"] = value
    results["modules"] = np.array(sorted({name.split(".")[0] for name in sys.modules}))
    np.savez(output_path, **results)


if __name__ == "__main__":
    main(*sys.argv[1:4])
