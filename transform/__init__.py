"""The data side: data config (spec), input validation and ingest, the simulator, and tf.Transform.

Importing any part of the package imports this first, and this is the one place that sets
`TF_USE_LEGACY_KERAS=1`: TensorFlow Recommenders and tf.Transform need Keras 2 (tf_keras),
and TensorFlow picks its Keras when it is first imported. A process that imported TensorFlow
before feedrank must set the variable itself, before that import.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
