"""What a hyperparameter search optimises, measured on the validation (eval) split.

Two objectives, both averages over tasks weighted by the magnitude of the spec's utility
weights u_t (the ranking utility is sum_t u_t p_t, so a task matters as much as its weight
moves the utility):

    auc      utility_weighted_auc = sum_t |u_t| AUC_t / sum_t |u_t|            (maximised)
    logloss  calibrated_log_loss  = sum_t |u_t| LL_t  / sum_t |u_t|            (minimised)

A negative weight (hide, -20) counts by its magnitude: ordering hides well demotes the pins
users would hide, which moves the utility as much as a positive action of the same weight;
a task with weight 0 does not count. AUC_t is the raw head's AUC over the rows where task t
is defined (its segment); calibration does not change the order within a segment and is not
fitted for this objective. LL_t is the log loss of the calibrated head: calibrators are
fitted on the calibration split with the backbone frozen (`trainer.calibration.calibrators`), then the
eval split is scored through the scoring model, as at serving time.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from trainer.calibration.calibrators import collect_logits, gather_task_columns
from trainer.evaluation import metrics
from trainer.model.scoring import scoring_input_names
from trainer.training.train import calibrate
from trainer.tuning.search_config import OBJECTIVES
from trainer.tuning.search_trial import SearchData
from transform.spec import Spec


def objective_weights(spec: Spec) -> dict[str, float]:
    """|u_t| per task, normalised to sum to 1; all-zero utility weights raise."""
    magnitudes = {task.name: abs(task.utility_weight) for task in spec.tasks}
    total = sum(magnitudes.values())
    if total == 0:
        raise ValueError(f"spec {spec.name!r}: every utility weight is 0, so no task weights the search objective")
    return {name: magnitude / total for name, magnitude in magnitudes.items()}


def trial_metrics(spec: Spec, backbone: tf.keras.Model, data: SearchData, objective: str) -> dict[str, float]:
    """Every task's `<task>_auc` (and `<task>_log_loss` for logloss) on the eval split, plus the objective."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective {objective!r} is not one of {sorted(OBJECTIVES)}")
    columns = collect_logits(backbone, data.eval_dataset(), spec)
    per_task = {task.name: {"auc": metrics.auc(columns[task.name]["label"], columns[task.name]["logit"])}
                for task in spec.tasks}
    if objective == "logloss":
        for name, log_loss in _calibrated_log_losses(spec, backbone, data).items():
            per_task[name]["log_loss"] = log_loss
    metric = "auc" if objective == "auc" else "log_loss"
    undefined = [name for name, values in per_task.items() if np.isnan(values[metric])]
    if undefined:
        raise ValueError(f"{metric} is undefined for task(s) {undefined} on the eval split (one class only)")
    weights = objective_weights(spec)
    result = {f"{name}_{key}": value for name, values in per_task.items() for key, value in values.items()}
    result[OBJECTIVES[objective][0]] = float(sum(weights[name] * per_task[name][metric] for name in weights))
    return result


def _calibrated_log_losses(spec: Spec, backbone: tf.keras.Model, data: SearchData) -> dict[str, float]:
    _, scoring_model = calibrate(spec, backbone, data.calibration_dataset(), data.tft_output)
    names = scoring_input_names(spec)
    # gather_task_columns keeps each task's segment rows; its "logit" column holds the probability here.
    batches = ((scoring_model({name: batch[name] for name in names}, training=False), batch)
               for batch in data.eval_dataset())
    columns = gather_task_columns(spec, batches)
    return {name: metrics.log_loss(column["label"], column["logit"]) for name, column in columns.items()}
