"""Reliability diagram PNGs."""
import os

from tests.test_report import PNG_MAGIC, _columns, columns, spec  # noqa: F401 (fixtures)
from trainer.evaluation import plots


def test_plot_reliability_writes_png(spec, columns, tmp_path):
    path = os.path.join(tmp_path, "plots", "reliability.png")
    assert plots.plot_reliability(spec, columns, path) == path
    with open(path, "rb") as handle:
        content = handle.read()
    assert content.startswith(PNG_MAGIC)
    assert len(content) > 1000
    assert os.listdir(os.path.dirname(path)) == ["reliability.png"]


def test_plot_reliability_with_task_absent(spec, tmp_path):
    columns = _columns(pin_type=["image"] * 8, user_state=["core"] * 8)
    path = os.path.join(tmp_path, "reliability.png")
    plots.plot_reliability(spec, columns, path)
    with open(path, "rb") as handle:
        assert handle.read(8) == PNG_MAGIC


def test_task_reliability_has_a_panel_per_segment_value(spec, columns, tmp_path):
    path = os.path.join(tmp_path, "reliability_click.png")
    assert plots.plot_task_reliability(spec, columns, "click", "pin_type", path) == path
    with open(path, "rb") as handle:
        assert handle.read(8) == PNG_MAGIC
