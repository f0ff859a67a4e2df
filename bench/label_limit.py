"""What limits a task's AUC: the information in the features, or the labels to learn it from.

    .venv/bin/python bench/label_limit.py [--run-dir runs/bench] [--task hide] [--truth-rows 1000000]

On the end-to-end bench's data, two gradient-boosted tree models (scikit-learn's
HistGradientBoosting) are fitted on the same features (every spec feature but the ids,
categoricals as integer codes): one to the logit of the simulator's true probability (a
noise-free target, on the first `--truth-rows` training rows), one to the 0/1 labels (every
training row, early stopping on a tenth of them). Both score the eval split, and AUC / true-
probability AUC is reported beside the network's from bench/results/end_to_end.json.

Reading: the first model's figure is about what the features allow (a lower bound of it);
if a model learning from labels, trees or network, stays well under it, the task is short of
labels rather than of features. Writes bench/results/label_limit.json.
"""
import argparse
import glob
import json
import os
import time

import numpy as np
from record import run_record
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from trainer.calibration.calibrators import logit
from trainer.evaluation import metrics
from trainer.evaluation.raw_columns import logged_columns_spec, read_raw_columns, task_segment_mask
from transform.common.files import write_json
from transform.common.logs import configure_logging
from transform.spec import packaged_spec
from transform.splits import split_pattern

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def feature_matrix(spec, columns: dict) -> np.ndarray:
    """[rows, features] float64: numerics as they are, categoricals as codes of their sorted values."""
    matrix = []
    for feature in spec.features:
        if feature.kind == "id":
            continue
        values = columns[feature.name]
        if values.dtype.kind in "OSU":
            values = np.unique(values, return_inverse=True)[1]
        matrix.append(values.astype(np.float64))
    return np.stack(matrix, axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", default="runs/bench")
    parser.add_argument("--task", default="hide")
    parser.add_argument("--truth-rows", type=int, default=1_000_000)
    parser.add_argument("--results", default=os.path.join(RESULTS_DIR, "label_limit.json"))
    args = parser.parse_args()
    configure_logging()
    spec, load_start = packaged_spec(), os.getloadavg()
    tasks = {task.name: task for task in spec.tasks if task.truth}
    if args.task not in tasks:
        parser.error(f"--task {args.task!r} is not a task with a truth column: {sorted(tasks)}")
    task = tasks[args.task]
    data_dir = os.path.join(args.run_dir, "data")
    if not glob.glob(split_pattern(data_dir, "train")):
        parser.error(f"{data_dir} has no train split: run `python bench/end_to_end.py --output {args.run_dir}` first")
    read = logged_columns_spec(spec)
    train, evaluation = (read_raw_columns(split_pattern(data_dir, split), read) for split in ("train", "eval"))
    train_mask, eval_mask = task_segment_mask(task, train), task_segment_mask(task, evaluation)
    features, eval_features = feature_matrix(spec, train)[train_mask], feature_matrix(spec, evaluation)[eval_mask]
    labels, truth = train[task.label][train_mask], train[task.truth][train_mask]
    eval_labels, eval_truth = evaluation[task.label][eval_mask], evaluation[task.truth][eval_mask]
    true_auc = metrics.auc(eval_labels, eval_truth)
    models = {
        "trees_fitted_to_true_logit": (HistGradientBoostingRegressor(max_iter=600, max_leaf_nodes=63, random_state=0),
                                       features[:args.truth_rows], logit(truth[:args.truth_rows])),
        "trees_fitted_to_labels": (HistGradientBoostingClassifier(max_iter=400, learning_rate=0.05, early_stopping=True,
                                                                  validation_fraction=0.1, n_iter_no_change=30,
                                                                  random_state=0),
                                   features, labels),
    }
    figures = {}
    for name, (model, inputs, target) in models.items():
        start = time.perf_counter()
        model.fit(inputs, target)
        scores = model.predict(eval_features) if name.endswith("logit") else model.predict_proba(eval_features)[:, 1]
        auc = metrics.auc(eval_labels, scores)
        figures[name] = {"training_rows": len(inputs), "auc": auc, "auc_fraction_of_true": auc / true_auc,
                         "seconds": round(time.perf_counter() - start, 1)}
        print(f"{name}: AUC {auc:.4f}, {auc / true_auc:.4f} of true ({len(inputs):,} rows)", flush=True)
    network_path = os.path.join(RESULTS_DIR, "end_to_end.json")
    with open(network_path) as handle:
        figures["network_end_to_end"] = json.load(handle)["tasks"][task.name]
    write_json({
        **run_record(load_start),
        "task": task.name, "eval_rows": int(eval_mask.sum()), "eval_positives": int(eval_labels.sum()),
        "true_auc": true_auc, "models": figures,
    }, args.results)


if __name__ == "__main__":
    main()
