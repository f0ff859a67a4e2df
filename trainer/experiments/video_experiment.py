"""The video experiment: what a video_watch objective, with its own calibrated head and a
utility weight, changes in the feed, on simulated data valued under the true probabilities.

    feedrank video-experiment --output runs/video_experiment [--train-rows 1000000] [--k 5]

Setup: one simulated world and its tf.Transform output; two models trained on it with the
same hyperparameters and seed (the add-objective machinery, `trainer.experiments.add_objective`):
  before: no video_watch task (`spec_without`); videos are ranked by the other heads,
          utility = sum over the other tasks of w_t * p_t;
  after:  video_watch a positive label with its own head, calibrated on the calibration split,
          and the spec's utility weight: utility = sum over every task of w_t * p_t.
The eval split's sessions are ranked by each utility and their top k valued
(`trainer.evaluation.feed_outcomes`): the video share of the top k and the expected actions per session
under the TRUE probabilities, their change (after - before) and relative change; the true
utility of the top k under the spec's weights and NDCG@k (`trainer.evaluation.feed_quality`) with the
oracle as reference; and each model's AUC. A sweep over the video_watch weight on the after
model draws the trade-off curves (`trainer.evaluation.tradeoff_plot`), the before model as a marker.

Meaningful, not built in: the simulator's video_watch depends on pin watchability and user
video affinity, latents no other action uses (`transform.simulator.behaviour.true_probabilities`).
`video_value` checks it on the eval split's video pins: the correlation of each latent with
every task's true probability, and how much of logit(true video_watch) a least-squares fit
explains from the other actions' true logits (R^2), against from the two latents.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import time

import numpy as np

from trainer.calibration.calibrators import logit
from trainer.evaluation.feed_outcomes import (
    EXPECTED_ACTIONS, SHARE, TRUE, Sessions, outcome_change, top_k_outcomes, utility,
)
from trainer.evaluation.feed_quality import ORACLE, ranking_quality, true_utility
from trainer.evaluation.raw_columns import (
    feature_columns_spec, group_key_spec, read_raw_columns, task_segment_mask, text_columns,
)
from trainer.evaluation.tradeoff_plot import plot_tradeoff
from trainer.experiments.add_objective import spec_without
from trainer.experiments.seed_runs import ScoredModel, train_and_score
from trainer.hparams import HParams
from transform.beam_pipeline import run_transform
from transform.common.files import write_json, write_text
from transform.simulator.config import SimulatorConfig
from transform.simulator.simulate import simulate
from transform.simulator.world import impression_latents
from transform.spec import Spec
from transform.splits import EVAL_SPLIT, split_patterns

CANDIDATE = "video_watch"
LATENTS = ("watchability", "video_affinity")
REPORT_JSON, REPORT_TABLE, TRADEOFF_PLOT = "video_experiment.json", "video_experiment.txt", "video_experiment.png"
BEFORE, AFTER = "before", "after"
# The default world (200,000 users, 500,000 pins) with a third of the default run's training
# rows, and 10,000 eval sessions.
_LOG = logging.getLogger(__name__)


def run_video_experiment(spec: Spec, work_dir: str, config: SimulatorConfig, hparams: HParams, k: int = 5,
                         sweep_weights=None) -> dict:
    """Simulates, transforms, trains before and after, and returns the report (module docstring).

    `sweep_weights`: the candidate weights of the trade-off sweep (default: 0 to twice the
    spec's weight, 13 points).
    """
    start = time.perf_counter()
    feature = _candidate_task(spec).segment.feature
    data_dir, transform_dir = os.path.join(work_dir, "data"), os.path.join(work_dir, "transform")
    _LOG.info("video experiment 1/4: simulate -> %s", data_dir)
    metadata = simulate(config, data_dir, spec)
    _LOG.info("video experiment 2/4: transform -> %s", transform_dir)
    patterns = split_patterns(data_dir)
    run_transform(spec, patterns, transform_dir)
    _LOG.info("video experiment 3/4: train before (no %s) and after", CANDIDATE)
    before = train_and_score(spec_without(spec, CANDIDATE), transform_dir, patterns[EVAL_SPLIT], hparams)
    after = train_and_score(spec, transform_dir, patterns[EVAL_SPLIT], hparams)
    _LOG.info("video experiment 4/4: rank the eval sessions")
    columns = read_raw_columns(patterns[EVAL_SPLIT], {**feature_columns_spec(spec, (feature, "pin_id", "user_id")),
                                                      **group_key_spec(spec)})
    groups = columns[spec.group_key]
    sessions = {
        name: Sessions(groups, model.columns.calibrated, after.columns.truth, text_columns(columns, [feature]))
        for name, model in ((BEFORE, before), (AFTER, after))
    }
    weights = {BEFORE: spec_without(spec, CANDIDATE).utility_weights, AFTER: spec.utility_weights}
    report = _report(spec, sessions, weights, {BEFORE: before, AFTER: after}, k, sweep_weights)
    report["setup"] = {"simulator": dataclasses.asdict(config), "hparams": dataclasses.asdict(hparams), "k": k,
                       "rows": {split: figures["rows"] for split, figures in metadata["splits"].items()},
                       "eval_sessions": sessions[AFTER].count}
    report["video_value"] = video_value(spec, config, columns, after.columns.truth)
    report["seconds"] = round(time.perf_counter() - start, 1)
    return report


def video_value(spec: Spec, config: SimulatorConfig, columns: dict, truth: dict[str, np.ndarray]) -> dict:
    """On the candidate's segment rows (video pins): correlation of watchability and video
    affinity with every task's true probability, and R^2 of logit(true video_watch) from the
    other actions' true logits and from the two latents (least squares with an intercept)."""
    task = _candidate_task(spec)
    rows = task_segment_mask(task, columns)
    latents = {name: values[rows] for name, values in impression_latents(config, columns).items()}
    truth = {name: np.asarray(values, np.float64)[rows] for name, values in truth.items()}
    others = [logit(truth[name]) for name in spec.task_names if name != CANDIDATE]
    return {
        "rows": int(rows.sum()),
        "correlation": {latent: {name: float(np.corrcoef(latents[latent], truth[name])[0, 1]) for name in truth}
                        for latent in LATENTS},
        "r2_from_other_true_logits": _r2(logit(truth[CANDIDATE]), others),
        "r2_from_latents": _r2(logit(truth[CANDIDATE]), [latents[name] for name in LATENTS]),
    }


def write_video_experiment(spec: Spec, report: dict, output_dir: str) -> str:
    """Writes video_experiment.json, .txt and the trade-off .png to `output_dir`; returns the table."""
    plot_tradeoff(spec, CANDIDATE, report["sweep"], report["setup"]["k"], os.path.join(output_dir, TRADEOFF_PLOT),
                  references={BEFORE: report[BEFORE]})
    report["plot"] = TRADEOFF_PLOT
    table = format_video_experiment(report)
    write_json(report, os.path.join(output_dir, REPORT_JSON))
    write_text(table + "\n", os.path.join(output_dir, REPORT_TABLE))
    return table


def format_video_experiment(report: dict) -> str:
    """The before/after table, the feed-quality figures, the AUCs and the video-value check."""
    k, true = report["setup"]["k"], report[AFTER][EXPECTED_ACTIONS][TRUE]
    lines = [f"video experiment: top {k} of {report['setup']['eval_sessions']} eval sessions; before: no {CANDIDATE} "
             f"head, after: {CANDIDATE} head with weight {report[AFTER]['weights'][CANDIDATE]:g}",
             f"{'':<34}{'before':>10}{'after':>10}{'change':>10}{'relative':>10}"]
    for feature, shares in report[AFTER][SHARE].items():
        for value, share in shares.items():
            lines.append(f"{'share ' + feature + '=' + value:<34}{report[BEFORE][SHARE][feature][value]:>10.1%}"
                         f"{share:>10.1%}{report['change'][SHARE][feature][value]:>+10.1%}")
    for name in true:
        lines.append(f"{name + ' / session (true)':<34}{report[BEFORE][EXPECTED_ACTIONS][TRUE][name]:>10.4f}"
                     f"{true[name]:>10.4f}{report['change'][EXPECTED_ACTIONS][TRUE][name]:>+10.4f}"
                     f"{_percent(report['relative_change_true'][name]):>10}")
    quality = report["feed_quality"]
    for metric, label in (("top_k_utility", f"true utility of the top {k}"), ("ndcg", f"NDCG@{k} (true utility)")):
        before, after = quality[BEFORE][metric], quality[AFTER][metric]
        lines.append(f"{label:<34}{before:>10.4f}{after:>10.4f}{after - before:>+10.4f}"
                     f"   oracle {quality[ORACLE][metric]:.4f}")
    lines += ["", f"{'AUC (eval)':<34}{'before':>10}{'after':>10}"]
    lines += [f"{name:<34}{report['auc'][BEFORE].get(name, float('nan')):>10.4f}{auc:>10.4f}"
              for name, auc in report["auc"][AFTER].items()]
    return "\n".join(lines + [""] + _value_lines(report["video_value"]))


def _report(spec: Spec, sessions: dict, weights: dict, models: dict[str, ScoredModel], k: int, sweep_weights) -> dict:
    outcomes = {name: top_k_outcomes(sessions[name], weights[name], k) for name in (BEFORE, AFTER)}
    change = outcome_change(outcomes[AFTER], outcomes[BEFORE])
    true_before = outcomes[BEFORE][EXPECTED_ACTIONS][TRUE]
    value = true_utility(spec, models[AFTER].columns)
    groups = sessions[AFTER].groups
    sweep_weights = np.linspace(0.0, 2 * weights[AFTER][CANDIDATE], 13) if sweep_weights is None else sweep_weights
    return {
        BEFORE: outcomes[BEFORE],
        AFTER: outcomes[AFTER],
        "change": change,
        "relative_change_true": {name: (delta / true_before[name] if true_before[name] else None)
                                 for name, delta in change[EXPECTED_ACTIONS][TRUE].items()},
        "feed_quality": {
            **{name: ranking_quality(groups, utility(sessions[name].calibrated, weights[name]), value, k)
               for name in (BEFORE, AFTER)},
            ORACLE: ranking_quality(groups, value, value, k),
        },
        "auc": {name: model.aucs for name, model in models.items()},
        "sweep": [top_k_outcomes(sessions[AFTER], {**weights[AFTER], CANDIDATE: float(w)}, k) for w in sweep_weights],
    }


def _value_lines(value: dict) -> list[str]:
    tasks = list(next(iter(value["correlation"].values())))
    lines = [f"video pins ({value['rows']} eval rows): correlation with each task's true probability",
             f"{'':<16}" + "".join(f"{name[:11]:>12}" for name in tasks)]
    lines += [f"{latent:<16}" + "".join(f"{value['correlation'][latent][name]:>+12.3f}" for name in tasks)
              for latent in value["correlation"]]
    lines.append(f"R^2 of logit(true {CANDIDATE}): {value['r2_from_other_true_logits']:.3f} from the other actions' "
                 f"true logits, {value['r2_from_latents']:.3f} from {' and '.join(LATENTS)}")
    return lines


def _candidate_task(spec: Spec):
    task = next((task for task in spec.tasks if task.name == CANDIDATE), None)
    if task is None or task.segment is None or not spec.group_key:
        raise ValueError(f"the video experiment needs a {CANDIDATE!r} task defined on a segment and a group_key; "
                         f"spec {spec.name!r} has tasks {list(spec.task_names)}, group_key {spec.group_key!r}")
    return task


def _r2(target: np.ndarray, regressors: list[np.ndarray]) -> float:
    """Share of `target`'s variance a least-squares fit on `regressors` (and an intercept) explains."""
    design = np.column_stack([np.ones_like(target), *regressors])
    residual = target - design @ np.linalg.lstsq(design, target, rcond=None)[0]
    return float(1.0 - residual.var() / target.var())


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1%}"
