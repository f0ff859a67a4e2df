"""Model side of the package: input pipeline, multi-task model, calibration, utility, evaluation."""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
