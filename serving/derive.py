"""New export versions derived from an existing one.

`derive_version` writes a new version that differs from an existing one only in
some of its `adjustable_variables` (utility weights, calibrator parameters): reweighting and
recalibration change a served model in seconds, without retraining or re-running the
transform, and the source version stays as it was, servable for rollback.

It loads the source with `tf.saved_model.load`, assigns the new values, and saves the loaded
object again with its own signatures: the tf.Transform tables and vocabulary assets, the
backbone and every other variable are carried over unchanged (tests compare every checkpoint
tensor bit for bit), and the warmup requests are copied.
"""
from __future__ import annotations

import logging
import os
import shutil
import time

import numpy as np
import tensorflow as tf

from trainer.export.model_card import parameter_values, read_card, utc_now, with_parameters, write_card
from trainer.export.versions import next_version
from trainer.export.warmup import WARMUP_FILE
from transform.common.files import atomic_directory

_LOG = logging.getLogger(__name__)


def derive_version(source_dir: str, updates: dict[str, np.ndarray], reason: str) -> str:
    """Writes `<export_dir>/<next version>/`: `source_dir` with some variables set to new values.

    Args:
      source_dir: an export version directory, e.g. `export/1700000000`.
      updates: "<layer>/<weight>" -> new value of that adjustable variable, e.g.
        {"utility/task_weights": [...], "save_calibrator/slope": 1.1}; shapes must match.
      reason: why the version was derived, recorded in the model card's `derived_from`.
    Returns:
      The new version's directory, which appears atomically once complete.
    """
    start = time.perf_counter()
    loaded = tf.saved_model.load(source_dir)
    changes = {}
    for key, value in updates.items():
        variable = _adjustable(loaded, key, source_dir)
        new_value = np.asarray(value, dtype=variable.dtype.as_numpy_dtype)
        if new_value.shape != tuple(variable.shape):
            raise ValueError(f"{key}: new value has shape {new_value.shape}, the variable {tuple(variable.shape)}")
        changes[key] = {"from": variable.numpy().tolist(), "to": new_value.tolist()}
        variable.assign(new_value)
    card = with_parameters(read_card(source_dir), parameter_values(loaded.adjustable_variables))
    card.update(
        exported_at=utc_now(),
        derived_from={"version": os.path.basename(os.path.normpath(source_dir)), "reason": reason, "changes": changes},
    )
    export_dir = os.path.dirname(os.path.normpath(source_dir))
    version_dir = os.path.join(export_dir, str(next_version(export_dir)))
    with atomic_directory(version_dir) as tmp_dir:
        tf.saved_model.save(loaded, tmp_dir, signatures=dict(loaded.signatures))
        warmup_dir = os.path.dirname(WARMUP_FILE)
        shutil.copytree(os.path.join(source_dir, warmup_dir), os.path.join(tmp_dir, warmup_dir))
        write_card(card, tmp_dir)
    _LOG.info("derived %s from %s (%s) in %.1f s", version_dir, source_dir, reason, time.perf_counter() - start)
    return version_dir


def _adjustable(loaded, key: str, source_dir: str) -> tf.Variable:
    layer, _, weight = key.partition("/")
    variables = getattr(loaded, "adjustable_variables", None)
    if variables is None:
        raise ValueError(f"{source_dir} tracks no adjustable_variables (exported by an older version); export it again")
    if layer not in variables or weight not in variables[layer]:
        available = sorted(f"{name}/{w}" for name, weights in variables.items() for w in weights)
        raise KeyError(f"{source_dir} has no adjustable variable {key!r}; it has {available}")
    return variables[layer][weight]
