"""Evaluation: scoring a raw split through the transform graph, metrics, the report, plots, feed quality."""
