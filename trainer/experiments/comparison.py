"""Architecture comparison: single-task baselines, shared-bottom, MMoE and PLE over seeds.

Every model is trained on the same transformed data with the same hyperparameters (bar the
architecture) once per seed, calibrated, and scored on the held-out raw split (test if the
data has one, else eval: `trainer.experiments.seed_runs.held_out_split`). Figures, as mean +- std over seeds:
- AUC per task of the calibrated probability; for `single_task`, each task's own model;
- seconds per epoch: wall time of training and calibration / epochs; for `single_task` the
  sum over its per-task models (the cost of serving every task that way);
- on data with true probabilities and a group key (the simulator), feed quality
  (`trainer.evaluation.feed_quality`): top-k utility and NDCG@k of each multi-task architecture's
  calibrated utility, of the single-task models' calibrated utility, of the pinnability
  model's score (`trainer.experiments.baselines`), of the oracle and of random order.
`checks` answers two questions about the best multi-task architecture (highest AUC averaged
over tasks): is every task's AUC within AUC_TOLERANCE of its single-task model or better, and
does its utility's top-k utility beat the pinnability score's; with the gap to the oracle.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import time

import numpy as np
import tensorflow_transform as tft

from trainer.evaluation.feed_quality import (
    ORACLE, RANDOM, calibrated_utility, feed_quality, read_group_keys, true_utility,
)
from trainer.experiments.baselines import pinnability_scores, single_task_hparams, single_task_spec, train_pinnability
from trainer.experiments.seed_runs import format_spread, held_out_split, spread, train_and_score
from trainer.hparams import ARCHITECTURES, HParams
from transform.common.files import write_json, write_text
from transform.spec import Spec

SINGLE_TASK, PINNABILITY_SCORE = "single_task", "pinnability"
AUC_TOLERANCE = 0.005
REPORT_JSON, REPORT_TABLE = "comparison.json", "comparison.md"
_LOG = logging.getLogger(__name__)


def has_feed_truth(spec: Spec) -> bool:
    """Feed quality needs requests (group_key) and every task's true probability (truth)."""
    return bool(spec.group_key) and all(task.truth for task in spec.tasks)


def compare_models(spec: Spec, transform_dir: str, data_dir: str, hparams: HParams, seeds: list[int],
                   architectures: tuple[str, ...] = ARCHITECTURES, k: int = 5) -> dict:
    """Trains every model once per seed on `transform_dir`, scores `data_dir`'s held-out split;
    returns the comparison (module docstring)."""
    unknown = sorted(set(architectures) - set(ARCHITECTURES))
    if unknown or not architectures:
        raise ValueError(f"architectures {list(architectures)} must be some of {list(ARCHITECTURES)}")
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct and at least one, got {seeds}")
    split, eval_pattern = held_out_split(data_dir)
    groups = read_group_keys(spec, eval_pattern) if has_feed_truth(spec) else None
    runs = [_seed_run(spec, transform_dir, eval_pattern, dataclasses.replace(hparams, seed=seed), architectures,
                      groups, k) for seed in seeds]
    models = (SINGLE_TASK, *architectures)
    result = {
        "spec": spec.name,
        "split": split,
        "seeds": list(seeds),
        "hparams": dataclasses.asdict(hparams),
        "models": {
            model: {
                "auc": {task: spread([run["aucs"][model][task] for run in runs]) for task in spec.task_names},
                "seconds_per_epoch": spread([run["seconds"][model] for run in runs]),
            }
            for model in models
        },
        "feed_quality": None if groups is None else _feed_summary(runs, groups, k),
    }
    result["checks"] = comparison_checks(result, architectures)
    return result


def comparison_checks(result: dict, architectures: tuple[str, ...]) -> dict:
    """The best multi-task architecture against the single-task AUCs and the pinnability score."""
    models = result["models"]
    best = max(architectures, key=lambda name: np.mean([cell["mean"] for cell in models[name]["auc"].values() if cell]))
    gaps = {task: cell["mean"] - models[SINGLE_TASK]["auc"][task]["mean"]
            for task, cell in models[best]["auc"].items() if cell and models[SINGLE_TASK]["auc"][task]}
    checks = {
        "best_multi_task": best,
        "auc_minus_single_task": gaps,
        "auc_within_tolerance": all(gap >= -AUC_TOLERANCE for gap in gaps.values()),
        "auc_tolerance": AUC_TOLERANCE,
    }
    feed = result["feed_quality"]
    if feed is not None:
        top_k = {name: figures["top_k_utility"]["mean"] for name, figures in feed["scores"].items()}
        utility = top_k[_utility_name(best)]
        checks.update({
            "utility_beats_pinnability": utility > top_k[PINNABILITY_SCORE],
            "top_k_utility": {"utility": utility, "pinnability": top_k[PINNABILITY_SCORE], ORACLE: top_k[ORACLE]},
            "gap_to_oracle": top_k[ORACLE] - utility,
            "share_of_oracle_gain_over_random": (utility - top_k[RANDOM]) / (top_k[ORACLE] - top_k[RANDOM]),
        })
    return checks


def format_comparison(result: dict, title: str = "") -> str:
    """Markdown tables: AUC per task and model, seconds per epoch, feed quality, checks."""
    models = list(result["models"])
    lines = [f"### {title or result['spec']}", "",
             f"{result['hparams']['epochs']} epochs, seeds {result['seeds']}; AUC on the {result['split']} split, "
             "mean +- std over seeds", "",
             "| task | " + " | ".join(models) + " |", "| --- |" + " --- |" * len(models)]
    for task in result["models"][models[0]]["auc"]:
        lines.append(f"| {task} | " + " | ".join(format_spread(result["models"][m]["auc"][task]) for m in models) + " |")
    lines.append("| seconds / epoch | "
                 + " | ".join(format_spread(result["models"][m]["seconds_per_epoch"], 1) for m in models) + " |")
    feed = result["feed_quality"]
    if feed is not None:
        oracle = feed["scores"][ORACLE]["top_k_utility"]["mean"]
        lines += ["", f"feed quality over {feed['requests']} requests, top {feed['k']} of each by the score "
                  f"(pinnability model: {format_spread(feed['pinnability_seconds_per_epoch'], 1)} seconds / epoch)",
                  "", f"| ranked by | utility of top {feed['k']} | share of oracle | NDCG@{feed['k']} |",
                  "| --- | --- | --- | --- |"]
        for name, figures in feed["scores"].items():
            share = figures["top_k_utility"]["mean"] / oracle
            lines.append(f"| {name} | {format_spread(figures['top_k_utility'])} | {share:.1%} | "
                         f"{format_spread(figures['ndcg'])} |")
    lines += ["", _format_checks(result["checks"])]
    return "\n".join(lines)


def write_comparison(result: dict, output_dir: str, title: str = "") -> str:
    """Writes comparison.json and comparison.md to `output_dir`; returns the Markdown."""
    table = format_comparison(result, title)
    write_json(result, os.path.join(output_dir, REPORT_JSON))
    write_text(table + "\n", os.path.join(output_dir, REPORT_TABLE))
    return table


def _seed_run(spec: Spec, transform_dir: str, eval_pattern: str, hparams: HParams, architectures, groups,
              k: int) -> dict:
    """AUCs, seconds per epoch and (with `groups`) feed quality of every model, for one seed."""
    single = {name: train_and_score(single_task_spec(spec, name), transform_dir, eval_pattern,
                                    single_task_hparams(hparams))
              for name in spec.task_names}
    multi = {name: train_and_score(spec, transform_dir, eval_pattern, dataclasses.replace(hparams, architecture=name))
             for name in architectures}
    run = {
        "aucs": {SINGLE_TASK: {name: model.aucs[name] for name, model in single.items()},
                 **{name: model.aucs for name, model in multi.items()}},
        "seconds": {SINGLE_TASK: sum(model.seconds_per_epoch for model in single.values()),
                    **{name: model.seconds_per_epoch for name, model in multi.items()}},
    }
    if groups is not None:
        scores = {_utility_name(name): calibrated_utility(spec, model.columns) for name, model in multi.items()}
        scores[_utility_name(SINGLE_TASK)] = sum(
            calibrated_utility(single_task_spec(spec, name), model.columns) for name, model in single.items()
        )
        start = time.perf_counter()
        pinnability = train_pinnability(spec, transform_dir, hparams)
        run["seconds"][PINNABILITY_SCORE] = (time.perf_counter() - start) / hparams.epochs
        scores[PINNABILITY_SCORE] = pinnability_scores(spec, tft.TFTransformOutput(transform_dir), pinnability,
                                                       eval_pattern)
        run["feed"] = feed_quality(groups, scores, true_utility(spec, multi[architectures[0]].columns), k)
    return run


def _feed_summary(runs: list[dict], groups: np.ndarray, k: int) -> dict:
    return {
        "k": k,
        "requests": int(np.unique(groups).size),
        "pinnability_seconds_per_epoch": spread([run["seconds"][PINNABILITY_SCORE] for run in runs]),
        "scores": {name: {metric: spread([run["feed"][name][metric] for run in runs])
                          for metric in ("top_k_utility", "ndcg")} for name in runs[0]["feed"]},
    }


def _utility_name(model: str) -> str:
    return f"{model} utility"


def _format_checks(checks: dict) -> str:
    gaps = ", ".join(f"{task} {gap:+.4f}" for task, gap in checks["auc_minus_single_task"].items())
    lines = [f"best multi-task architecture: {checks['best_multi_task']}; AUC minus single-task: {gaps}; "
             f"every task within {checks['auc_tolerance']} or better: {'yes' if checks['auc_within_tolerance'] else 'no'}"]
    if "utility_beats_pinnability" in checks:
        top_k = checks["top_k_utility"]
        lines.append(
            f"top-k utility: utility {top_k['utility']:.4f} vs pinnability {top_k['pinnability']:.4f} "
            f"(beats it: {'yes' if checks['utility_beats_pinnability'] else 'no'}); oracle {top_k[ORACLE]:.4f}, "
            f"gap to oracle {checks['gap_to_oracle']:.4f}; "
            f"{checks['share_of_oracle_gain_over_random']:.1%} of the oracle's gain over random order"
        )
    return "\n\n".join(lines)
