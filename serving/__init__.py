"""Serving side of the package: SavedModel export with signatures and warmup, and the CLI."""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
