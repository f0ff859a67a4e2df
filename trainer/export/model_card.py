"""The model card, `assets/model_card.json`: what a reader of an export needs without loading it.

Fields:
  exported_at: UTC time the version was written.
  signatures: name -> {"inputs": {name: {"dtype", "shape"}}, "outputs": [names]}.
  tasks: [{"name", "utility_weight", "segment"}] in the spec's order, which is also the
    column order of every `utility_weights` input.
  utility_weights: {"order": [task names], "values": [the version's default weights]}.
  calibrators: task -> {parameter: value} of its `<task>_calibrator` layer.
  raw_features: [{"name", "dtype", "default"}]: what the raw-feature signatures take, and
    the value a missing feature gets.
  spec: the declaration the model was trained with (utility weights as in this version).
  derived_from: for a version derived from another (e.g. `feedrank reweight`): the source
    version and every variable changed, old and new value.
  ...: whatever the exporting job adds (package_version, training_data, eval_report).

Tasks, utility weights and calibrators are read from the exported variables themselves
(`with_parameters`), so the card cannot disagree with the model it describes.
"""
from __future__ import annotations

import datetime
import json
import os

import numpy as np

from trainer.model.scoring import UTILITY
from transform.common.files import write_json
from transform.spec import Spec, spec_to_dict

MODEL_CARD = "model_card.json"
TASK_WEIGHTS = "task_weights"


def calibrator_layer(task_name: str) -> str:
    """Name of a task's calibrator layer in the scoring model (and in `adjustable_variables`)."""
    return f"{task_name}_calibrator"


def model_card(spec: Spec, signatures: dict, parameters: dict, extra: dict) -> dict:
    """A new export's card.

    Args:
      spec: the declaration the model was trained with.
      signatures: name -> concrete function, as `ServingModule.signatures()` returns them.
      parameters: layer -> {weight: value}, as `parameter_values` returns them.
      extra: job fields merged in (package_version, training_data, eval_report ...).
    """
    card = {
        "exported_at": utc_now(),
        "signatures": {name: _describe(function) for name, function in signatures.items()},
        "raw_features": [
            {"name": feature.name, "dtype": feature.dtype, "default": feature.missing_value}
            for feature in spec.features
        ],
        "spec": spec_to_dict(spec),
        **extra,
    }
    return with_parameters(card, parameters)


def with_parameters(card: dict, parameters: dict) -> dict:
    """The card with tasks, utility weights and calibrators set from the export's variables."""
    weights = [float(w) for w in parameters[UTILITY][TASK_WEIGHTS]]
    tasks = [{**task, "utility_weight": weight} for task, weight in zip(card["spec"]["tasks"], weights)]
    return {
        **card,
        "tasks": [{key: task[key] for key in ("name", "utility_weight", "segment")} for task in tasks],
        "utility_weights": {"order": [task["name"] for task in tasks], "values": weights},
        "calibrators": {task["name"]: parameters[calibrator_layer(task["name"])] for task in tasks},
        "spec": {**card["spec"], "tasks": tasks},
    }


def parameter_values(variables: dict) -> dict:
    """layer -> {weight: value} (floats and nested lists) of `adjustable_variables`."""
    return {
        layer: {name: np.asarray(variable.numpy()).tolist() for name, variable in weights.items()}
        for layer, weights in variables.items()
    }


def card_path(version_dir: str) -> str:
    return os.path.join(version_dir, "assets", MODEL_CARD)


def read_card(version_dir: str) -> dict:
    """The card of an export version; a version without one is an error naming the path."""
    path = card_path(version_dir)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no model card; is {version_dir} a feedrank export version?")
    with open(path) as handle:
        return json.load(handle)


def write_card(card: dict, version_dir: str) -> None:
    write_json(card, card_path(version_dir))


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


def _describe(function) -> dict:
    inputs = function.structured_input_signature[0][0]
    return {
        "inputs": {name: {"dtype": spec.dtype.name, "shape": spec.shape.as_list()} for name, spec in inputs.items()},
        "outputs": sorted(function.structured_outputs),
    }

