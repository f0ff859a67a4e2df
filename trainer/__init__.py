"""The model side: the multi-task model, training, calibration, evaluation, tuning and the export.

Entry points: `trainer/tfx_module.py` (TFX Trainer and Tuner module file) and
`python -m trainer.task` (Vertex AI custom training).
"""
import transform  # noqa: F401  (Keras 2 before TensorFlow: see transform/__init__.py)
