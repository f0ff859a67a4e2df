"""Trade-off curves of a sweep over one utility weight: what the top k gains and gives up.

Each point is one weight value of the swept task (`trainer.evaluation.feed_outcomes.top_k_outcomes` of
the same sessions). The x axis is the swept task's reach: the share of its segment in the top
k when the task is defined on a segment (video_watch: the share of video pins), else its
expected actions per session. The first panel shows how the weight moves x; then one panel
per task plots its expected actions per session in the top k against x, from the calibrated
probabilities (solid) and, on simulated data, the true ones (dashed). Reference outcomes
(e.g. another model's ranking) are drawn as single markers.
"""
from __future__ import annotations

import math

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from trainer.evaluation.feed_outcomes import CALIBRATED, EXPECTED_ACTIONS, SHARE, TRUE
from trainer.evaluation.plots import save_figure_atomically
from transform.spec import Spec

_PLOT_COLUMNS = 3


def plot_tradeoff(spec: Spec, task_name: str, sweep: list[dict], k: int, path: str,
                  references: dict[str, dict] | None = None) -> str:
    """Writes the trade-off PNG of a sweep over `task_name`'s weight to `path`; returns `path`."""
    x_label, reach = _reach(spec, task_name, k)
    tasks = list(sweep[0][EXPECTED_ACTIONS][CALIBRATED])
    num_rows = math.ceil((len(tasks) + 1) / _PLOT_COLUMNS)
    figure = Figure(figsize=(4.5 * _PLOT_COLUMNS, 3.8 * num_rows), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(num_rows, _PLOT_COLUMNS, squeeze=False).ravel()
    weights = [outcome["weights"][task_name] for outcome in sweep]
    axes[0].plot(weights, [reach(outcome) for outcome in sweep], "o-")
    axes[0].set(xlabel=f"utility weight of {task_name}", ylabel=x_label, title=f"sweep over {task_name}")
    for axis, task in zip(axes[1:], tasks):
        _task_panel(axis, task, sweep, reach, references or {})
        axis.set_xlabel(x_label)
    for axis in axes[len(tasks) + 1:]:
        axis.set_visible(False)
    figure.suptitle(f"top {k} per session, weight of {task_name} from {weights[0]:g} to {weights[-1]:g}")
    save_figure_atomically(figure, path)
    return path


def _reach(spec: Spec, task_name: str, k: int):
    """(axis label, outcome -> x): the segment's top-k share, or the task's expected actions."""
    task = next((task for task in spec.tasks if task.name == task_name), None)
    if task is None:
        raise ValueError(f"task {task_name!r} is not a task of spec {spec.name!r}: {list(spec.task_names)}")
    if task.segment is None:
        return (f"expected {task_name} per session (top {k})",
                lambda outcome: outcome[EXPECTED_ACTIONS][CALIBRATED][task_name])
    feature, values = task.segment.feature, task.segment.values
    return (f"share of {feature}={'|'.join(values)} in the top {k}",
            lambda outcome: sum(outcome[SHARE][feature].get(value, 0.0) for value in values))


def _task_panel(axis, task: str, sweep: list[dict], reach, references: dict[str, dict]) -> None:
    x = [reach(outcome) for outcome in sweep]
    for source, style in ((CALIBRATED, "o-"), (TRUE, "s--")):
        if sweep[0][EXPECTED_ACTIONS][source] is not None:
            axis.plot(x, [outcome[EXPECTED_ACTIONS][source][task] for outcome in sweep], style, markersize=4,
                      label=source)
    for name, outcome in references.items():
        actions = outcome[EXPECTED_ACTIONS][TRUE] or outcome[EXPECTED_ACTIONS][CALIBRATED]
        axis.plot([reach(outcome)], [actions[task]], "k*", markersize=11, label=f"{name} (true)")
    axis.set(ylabel=f"expected {task} per session", title=task)
    axis.legend(fontsize=8)
