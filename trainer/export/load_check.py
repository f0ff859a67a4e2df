"""Checks that an export serves with TensorFlow alone, as TF Serving would load it.

    python trainer/export/load_check.py EXPORT_VERSION_DIR EXAMPLES.tfrecord OUTPUT.npz [--utility-weights W1,W2,...]

Runs every signature of the export on the serialized raw tf.Examples in EXAMPLES.tfrecord
through two loaders: `tf.saved_model.load` (TF2) and the TF1 session loader
(`tf.compat.v1.saved_model.loader.load`, the path TF Serving's C++ loader mirrors), and saves
every output as `<loader>/<signature>/<output>` in OUTPUT.npz, plus `modules`: the top-level
modules the process imported. A signature's inputs are built from the examples and the model
card by `signature_inputs`. Imports nothing but TensorFlow, NumPy and the standard library,
so run it by path, in any environment with TensorFlow installed.
"""
import argparse
import json
import os
import sys

import numpy as np
import tensorflow as tf

EXAMPLES = "examples"
UTILITY_WEIGHTS = "utility_weights"
MODEL_CARD = os.path.join("assets", "model_card.json")


def signature_inputs(card: dict, signature: str, examples: list, utility_weights=None) -> dict:
    """The inputs of `signature` for serialized raw `examples`, as the model card describes them.

    `examples` is passed as is; a raw-feature input is that feature's column parsed from the
    examples (a missing value gets the card's default); `utility_weights` is the given weights
    (default: the version's own, from the card) repeated for every row.
    """
    specs = card["signatures"][signature]["inputs"]
    defaults = {feature["name"]: feature["default"] for feature in card["raw_features"]}
    columns = {
        name: tf.io.FixedLenFeature([], tf.as_dtype(spec["dtype"]), default_value=defaults[name])
        for name, spec in specs.items()
        if name not in (EXAMPLES, UTILITY_WEIGHTS)
    }
    parsed = tf.io.parse_example(tf.constant(examples, tf.string), columns) if columns else {}
    inputs = {name: value.numpy() for name, value in parsed.items()}
    if EXAMPLES in specs:
        inputs[EXAMPLES] = np.array(examples, dtype=object)
    if UTILITY_WEIGHTS in specs:
        weights = card["utility_weights"]["values"] if utility_weights is None else utility_weights
        inputs[UTILITY_WEIGHTS] = np.tile(np.asarray(weights, np.float32), (len(examples), 1))
    return inputs


def serve_tf2(export_dir: str, inputs: dict) -> dict:
    """signature -> {output: value}, for every signature of the export, through the TF2 loader.

    `inputs` holds each signature's inputs by name; a signature without them is an error.
    """
    loaded = tf.saved_model.load(export_dir)
    return {
        name: {key: value.numpy() for key, value in function(**_tensors(_inputs_of(inputs, name))).items()}
        for name, function in loaded.signatures.items()
    }


def serve_tf1(export_dir: str, inputs: dict) -> dict:
    """The same through the TF1 session loader, feeding and fetching the SignatureDefs' tensors."""
    results = {}
    with tf.compat.v1.Session(graph=tf.Graph()) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], export_dir)
        for name, signature in meta_graph.signature_def.items():
            if name.startswith("__"):
                continue
            fetches = {key: info.name for key, info in signature.outputs.items()}
            feed = {signature.inputs[key].name: value for key, value in _inputs_of(inputs, name).items()}
            results[name] = session.run(fetches, feed_dict=feed)
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("export_dir")
    parser.add_argument("examples_path")
    parser.add_argument("output_path")
    parser.add_argument("--utility-weights", help="comma-separated weights, one per task in the card's order")
    args = parser.parse_args(argv)
    with open(os.path.join(args.export_dir, MODEL_CARD)) as handle:
        card = json.load(handle)
    weights = [float(w) for w in args.utility_weights.split(",")] if args.utility_weights else None
    examples = [record.numpy() for record in tf.data.TFRecordDataset(args.examples_path)]
    inputs = {name: signature_inputs(card, name, examples, weights) for name in card["signatures"]}
    results = {}
    for loader, serve in (("tf2", serve_tf2), ("tf1", serve_tf1)):
        for signature, outputs in serve(args.export_dir, inputs).items():
            results.update({f"{loader}/{signature}/{name}": value for name, value in outputs.items()})
    results["modules"] = np.array(sorted({name.split(".")[0] for name in sys.modules}))
    np.savez(args.output_path, **results)


def _inputs_of(inputs: dict, signature: str) -> dict:
    if signature not in inputs:
        raise KeyError(f"the export has signature {signature!r}, which the model card does not list")
    return inputs[signature]


def _tensors(inputs: dict) -> dict:
    return {name: tf.constant(value) for name, value in inputs.items()}


if __name__ == "__main__":
    main()
