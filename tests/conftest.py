"""Test setup: Keras 2 before TensorFlow loads, quiet TF logs, shared fixtures."""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
