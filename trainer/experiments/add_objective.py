"""Add-objective report: what adding a candidate task does to the tasks already trained.

A new objective trained through shared layers can hurt the existing ones (negative transfer).
Before it ships, the model is trained with and without the candidate on the same data, once
per seed, and compared on the held-out split:

- per other task t, the paired change d_s = AUC_t(with, seed s) - AUC_t(without, seed s),
  as mean +- std over the n seeds. Rule: the change exceeds the seed noise when the 95%
  confidence interval of the mean paired change excludes 0,
      |mean(d)| > t_{0.975, n-1} * std(d) / sqrt(n)      (std with ddof=1; t: Student's t);
- the cosine similarity of task gradients on the shared layers of the model with the
  candidate (`trainer.experiments.sharing.gradient_cosines`), mean +- std over seeds;
- for MMoE / PLE, each task's mean gate weight per expert (`trainer.experiments.sharing.mean_gate_weights`),
  per seed (experts are not comparable across seeds: they are learned afresh).

Written as add_objective.json (the dict `add_objective_report` returns) and add_objective.txt
(`format_add_objective`).
"""
from __future__ import annotations

import dataclasses
import logging
import os

import numpy as np
from scipy import stats

from trainer.experiments.seed_runs import format_spread, held_out_split, spread, train_and_score
from trainer.experiments.sharing import gradient_cosines, mean_gate_weights
from trainer.hparams import HParams
from trainer.model.backbone import shared_variables
from trainer.training.input import transformed_split
from transform.common.files import write_json, write_text
from transform.spec import Spec, SpecError
from transform.splits import EVAL_SPLIT

MIN_SEEDS = 3
ANALYSIS_BATCHES = 20  # transformed eval batches for gradient cosines and gate weights
REPORT_JSON, REPORT_TABLE = "add_objective.json", "add_objective.txt"
NOISE_RULE = ("exceeds_noise: the 95% confidence interval of the mean paired change (with - without, "
              "same seed), mean +- t(0.975, n-1) * std / sqrt(n), excludes 0")
_LOG = logging.getLogger(__name__)


def spec_without(spec: Spec, candidate: str) -> Spec:
    """`spec` without the task `candidate`; at least one task must remain."""
    if candidate not in spec.task_names:
        raise SpecError(f"candidate task {candidate!r} is not a task of spec {spec.name!r}: {list(spec.task_names)}")
    if len(spec.tasks) < 2:
        raise SpecError(f"spec {spec.name!r} has only the candidate task {candidate!r}: nothing to compare against")
    return dataclasses.replace(spec, tasks=tuple(task for task in spec.tasks if task.name != candidate))


def change_against_noise(deltas) -> dict:
    """Mean, std and 95% confidence half-width of paired changes; whether it excludes 0."""
    deltas = np.asarray(deltas, dtype=np.float64)
    if deltas.size < 2:
        raise ValueError(f"a change against seed noise needs at least 2 seeds, got {deltas.size}")
    std = float(np.std(deltas, ddof=1))
    half_width = float(stats.t.ppf(0.975, deltas.size - 1) * std / np.sqrt(deltas.size))
    mean = float(deltas.mean())
    return {"mean": mean, "std": std, "ci95_half_width": half_width, "exceeds_noise": abs(mean) > half_width}


def add_objective_report(spec: Spec, candidate: str, transform_dir: str, data_dir: str, hparams: HParams,
                         seeds: list[int]) -> dict:
    """Trains with and without `candidate` once per seed on `transform_dir`, scores `data_dir`'s
    held-out split (`trainer.experiments.seed_runs.held_out_split`); returns the report (module docstring)."""
    without = spec_without(spec, candidate)
    split, eval_pattern = held_out_split(data_dir)
    if len(seeds) < MIN_SEEDS or len(set(seeds)) != len(seeds):
        raise ValueError(f"the add-objective report needs at least {MIN_SEEDS} distinct seeds, got {seeds}")
    batches = list(transformed_split(transform_dir, EVAL_SPLIT, hparams.batch_size).take(ANALYSIS_BATCHES))
    runs = []
    for index, seed in enumerate(seeds):
        _LOG.info("add-objective %s: seed %d (%d/%d)", candidate, seed, index + 1, len(seeds))
        seed_hparams = dataclasses.replace(hparams, seed=seed)
        with_candidate = train_and_score(spec, transform_dir, eval_pattern, seed_hparams)
        backbone = with_candidate.trained.backbone
        runs.append({
            "with": with_candidate.aucs,
            "without": train_and_score(without, transform_dir, eval_pattern, seed_hparams).aucs,
            "cosines": gradient_cosines(spec, backbone, batches),
            "gates": mean_gate_weights(spec, backbone, batches),
            "shared_variables": len(shared_variables(backbone)),
        })
    return _report(spec, candidate, hparams, seeds, split, runs)


def _report(spec: Spec, candidate: str, hparams: HParams, seeds: list[int], split: str, runs: list[dict]) -> dict:
    others = [name for name in spec.task_names if name != candidate]
    return {
        "spec": spec.name,
        "split": split,
        "candidate": candidate,
        "architecture": hparams.architecture,
        "task_weighting": hparams.task_weighting,
        "seeds": list(seeds),
        "rule": NOISE_RULE,
        "tasks": {
            name: {
                "auc_without": spread([run["without"][name] for run in runs]),
                "auc_with": spread([run["with"][name] for run in runs]),
                "change": change_against_noise([run["with"][name] - run["without"][name] for run in runs]),
            }
            for name in others
        },
        "candidate_auc": spread([run["with"][candidate] for run in runs]),
        "gradient_cosine": {
            "shared_variables": runs[0]["shared_variables"],
            "pairs": {a: {b: spread([run["cosines"][a][b] for run in runs]) for b in spec.task_names}
                      for a in spec.task_names},
        },
        "gate_weights": None if runs[0]["gates"] is None else [
            {"seed": seed, "weights": run["gates"]} for seed, run in zip(seeds, runs)
        ],
    }


def format_add_objective(report: dict) -> str:
    """The report as readable fixed-width tables."""
    lines = [
        f"add-objective {report['candidate']!r} on spec {report['spec']} ({report['architecture']}, "
        f"{report['task_weighting']} weighting), seeds {report['seeds']}",
        f"AUC of every other task on the {report['split']} split, mean +- std over seeds; {report['rule']}",
        f"{'task':<16}{'without':>18}{'with':>18}{'change':>20}{'95% CI':>10}  exceeds noise",
    ]
    for name, figures in report["tasks"].items():
        change = figures["change"]
        lines.append(
            f"{name:<16}{format_spread(figures['auc_without']):>18}{format_spread(figures['auc_with']):>18}"
            f"{change['mean']:>+11.4f} +- {change['std']:.4f}{'+-' + format(change['ci95_half_width'], '.4f'):>10}"
            f"  {'yes' if change['exceeds_noise'] else 'no'}"
        )
    lines.append(f"{report['candidate']} (candidate) AUC with: {format_spread(report['candidate_auc'])}")
    cosine = report["gradient_cosine"]
    names = list(cosine["pairs"])
    lines += ["", f"gradient cosine on the shared layers ({cosine['shared_variables']} variables), mean over seeds",
              f"{'':<16}" + "".join(f"{name[:11]:>12}" for name in names)]
    for a in names:
        cells = [cosine["pairs"][a][b] for b in names]
        lines.append(f"{a:<16}" + "".join(f"{'-' if c is None else format(c['mean'], '+.3f'):>12}" for c in cells))
    if report["gate_weights"]:
        lines += _gate_lines(report["gate_weights"][0])
    return "\n".join(lines)


def write_add_objective(report: dict, output_dir: str) -> str:
    """Writes add_objective.json and add_objective.txt to `output_dir`; returns the table."""
    table = format_add_objective(report)
    write_json(report, os.path.join(output_dir, REPORT_JSON))
    write_text(table + "\n", os.path.join(output_dir, REPORT_TABLE))
    return table


def _gate_lines(seed_gates: dict) -> list[str]:
    experts = list(next(iter(seed_gates["weights"].values())))
    lines = ["", f"mean gate weight per task and expert (seed {seed_gates['seed']}; rows where the task is defined)",
             f"{'':<16}" + "".join(f"{name[:15]:>16}" for name in experts)]
    for task, weights in seed_gates["weights"].items():
        lines.append(f"{task:<16}" + "".join(f"{'-' if w is None else format(w, '.3f'):>16}" for w in weights.values()))
    return lines
