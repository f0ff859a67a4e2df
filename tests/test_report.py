"""The run report on a tiny hand-built evaluation split."""
import json
import os

import numpy as np
import pytest

from trainer.evaluation import report as report_lib
from trainer.evaluation.report import EvalColumns
from transform.spec import spec_from_dict

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def spec():
    return spec_from_dict({
        "name": "tiny",
        "report_segments": ["pin_type", "user_state"],
        "features": [
            {"name": "pin_type", "kind": "categorical", "dtype": "string", "vocab_size": 5},
            {"name": "user_state", "kind": "categorical", "dtype": "string", "vocab_size": 5},
        ],
        "tasks": [
            {"name": "click", "label": "click", "truth": "true_click", "utility_weight": 1.0},
            {"name": "video_watch", "label": "video_watch", "utility_weight": 2.0,
             "segment": {"feature": "pin_type", "values": ["video"]}},
        ],
    })


def _columns(pin_type, user_state):
    pin_type = np.array(pin_type)
    return EvalColumns(
        labels={
            "click": np.array([1, 0, 0, 1, 0, 0, 0, 1]),
            # Rows 3 and 5 are image pins: their 1s must not count for video_watch.
            "video_watch": np.array([1, 0, 0, 1, 0, 1, 0, 1]),
        },
        raw={
            "click": np.array([0.9, 0.2, 0.4, 0.8, 0.6, 0.2, 0.4, 0.8]),
            "video_watch": np.array([0.7, 0.0, 0.2, 0.0, 0.4, 0.0, 0.0, 0.6]),
        },
        calibrated={
            "click": np.array([0.6, 0.1, 0.2, 0.5, 0.5, 0.1, 0.2, 0.4]),
            "video_watch": np.array([0.5, 0.0, 0.1, 0.0, 0.2, 0.0, 0.0, 0.4]),
        },
        in_segment={
            "click": np.ones(8, dtype=bool),
            "video_watch": pin_type == "video",
        },
        truth={"click": np.array([0.5, 0.1, 0.3, 0.5, 0.2, 0.1, 0.1, 0.5])},
        segments={"pin_type": pin_type, "user_state": np.array(user_state)},
    )


@pytest.fixture
def columns():
    return _columns(
        pin_type=["video", "image", "video", "image", "video", "image", "image", "video"],
        user_state=["new", "core", "core", "core", "core", "core", "core", "core"],
    )


@pytest.fixture
def report(spec, columns):
    return report_lib.build_report(spec, columns, split="eval")


def test_header(report):
    assert report["schema_version"] == 3
    assert report["spec"] == "tiny"
    assert report["split"] == "eval"
    assert report["rows"] == 8
    assert list(report["tasks"]) == ["click", "video_watch"]


def test_segment_task_excludes_rows_outside_its_segment(report):
    video_watch = report["tasks"]["video_watch"]
    # Video rows 0, 2, 4, 7 have labels 1, 0, 0, 1; image rows' labels are ignored.
    assert video_watch["overall"]["rows"] == 4
    assert video_watch["overall"]["positives"] == 2
    assert video_watch["overall"]["label_rate"] == pytest.approx(0.5)
    assert list(video_watch["by_segment"]["pin_type"]) == ["video"]
    # Calibrated 0.5, 0.1, 0.2, 0.4 on video rows: sum 1.2 over 2 positives.
    assert video_watch["overall"]["after"]["calibration_ratio"] == pytest.approx(0.6)


def test_segment_value_cell(report):
    cell = report["tasks"]["click"]["by_segment"]["pin_type"]["video"]
    # Video rows 0, 2, 4, 7: labels 1, 0, 0, 1; calibrated 0.6, 0.2, 0.5, 0.4;
    # raw 0.9, 0.4, 0.6, 0.8; truth 0.5, 0.3, 0.2, 0.5.
    assert cell["rows"] == 4
    assert cell["positives"] == 2
    assert cell["label_rate"] == pytest.approx(0.5)
    # Calibrated: positive 0.6 beats 0.2 and 0.5; positive 0.4 beats 0.2 only -> 3/4.
    assert cell["auc"] == pytest.approx(0.75)
    # Raw: 0.9 and 0.8 beat 0.4 and 0.6 -> 4/4.
    assert cell["auc_before"] == pytest.approx(1.0)
    assert cell["true_auc"] == pytest.approx(1.0)
    assert cell["true_rate"] == pytest.approx(1.5 / 4)
    assert cell["after"]["mean_prob"] == pytest.approx(0.425)
    assert cell["after"]["calibration_ratio"] == pytest.approx(1.7 / 2)
    # (0.4^2 + 0.2^2 + 0.5^2 + 0.6^2) / 4 = 0.81 / 4
    assert cell["after"]["brier"] == pytest.approx(0.2025)
    assert cell["before"]["mean_prob"] == pytest.approx(0.675)
    assert cell["before"]["calibration_ratio"] == pytest.approx(2.7 / 2)
    # (0.1 + 0.1 + 0.3 + 0.1) / 4
    assert cell["mean_abs_gap_to_truth"] == pytest.approx(0.15)


def test_overall_cell_uses_every_row(report):
    overall = report["tasks"]["click"]["overall"]
    assert overall["rows"] == 8
    assert overall["positives"] == 3
    assert overall["after"]["mean_prob"] == pytest.approx(2.6 / 8)
    assert set(report["tasks"]["click"]["by_segment"]["pin_type"]) == {"image", "video"}


def test_truth_fields_only_with_truth(report):
    click = report["tasks"]["click"]["overall"]
    video_watch = report["tasks"]["video_watch"]["overall"]
    assert isinstance(click["true_auc"], float)
    assert isinstance(click["mean_abs_gap_to_truth"], float)
    assert video_watch["true_auc"] is None
    assert video_watch["true_rate"] is None
    assert video_watch["mean_abs_gap_to_truth"] is None


def test_undefined_metrics_are_none(report):
    # user_state "new" is row 0 alone: one positive, so AUC is undefined.
    cell = report["tasks"]["click"]["by_segment"]["user_state"]["new"]
    assert cell["rows"] == 1
    assert cell["auc"] is None
    assert cell["after"]["calibration_ratio"] == pytest.approx(0.6)


def test_task_absent_from_split(spec):
    columns = _columns(pin_type=["image"] * 8, user_state=["core"] * 8)
    video_watch = report_lib.build_report(spec, columns)["tasks"]["video_watch"]
    assert video_watch["overall"]["rows"] == 0
    assert video_watch["overall"]["auc"] is None
    assert video_watch["overall"]["after"]["log_loss"] is None
    assert video_watch["by_segment"] == {"pin_type": {}, "user_state": {}}


def test_bytes_segment_values_decoded(spec):
    columns = _columns(
        pin_type=[b"video", b"image", b"video", b"image", b"video", b"image", b"image", b"video"],
        user_state=[b"new"] + [b"core"] * 7,
    )
    columns.in_segment["video_watch"] = columns.segments["pin_type"] == b"video"
    built = report_lib.build_report(spec, columns)
    assert set(built["tasks"]["click"]["by_segment"]["pin_type"]) == {"image", "video"}


def test_columns_of_different_lengths_rejected(spec, columns):
    columns.raw["click"] = columns.raw["click"][:5]
    with pytest.raises(ValueError, match="raw\\['click'\\]"):
        report_lib.build_report(spec, columns)


def test_report_is_json_serialisable_without_nan(report):
    text = json.dumps(report, allow_nan=False)
    assert json.loads(text) == report


def test_format_table_lists_tasks_and_segment_values(report):
    table = report_lib.format_table(report)
    lines = table.split("\n\n")[0].splitlines()
    for expected in ("click", "video_watch", "pin_type=video", "pin_type=image", "user_state=new",
                     "user_state=core"):
        assert expected in table
    # Title, header, click (overall + 2 pin types + 2 user states),
    # video_watch (overall + 1 pin type + 2 user states).
    assert len(lines) == 2 + 5 + 4
    # Click overall, calibrated: positives 0.6, 0.5, 0.4 against negatives 0.1, 0.2, 0.5,
    # 0.1, 0.2 win 5 + 4 (+ one tie, 0.5) + 4 pairs of 15 -> AUC 13.5 / 15 = 0.9.
    label, rows, positives, auc = lines[2].split()[:4]
    assert (label, rows, positives, auc) == ("click", "8", "3", "0.9000")
    # Click on user_state=new (one row, one class): AUC undefined.
    new_line = next(line for line in lines[2:7] if line.split()[0] == "user_state=new")
    assert new_line.split()[3] == "-"
    assert "nan" not in table.lower() and "None" not in table


def test_format_table_columns_align(report):
    data_lines = report_lib.format_table(report).split("\n\n")[0].splitlines()[1:]
    assert len({len(line) for line in data_lines}) == 1


def test_write_report_round_trips_with_nan_as_null(report, tmp_path):
    report["tasks"]["click"]["overall"]["auc"] = float("nan")
    path = report_lib.write_report(report, str(tmp_path))
    assert path == os.path.join(tmp_path, "report.json")
    with open(path) as handle:
        loaded = json.load(handle)
    assert loaded["tasks"]["click"]["overall"]["auc"] is None
    assert loaded["tasks"]["video_watch"] == report["tasks"]["video_watch"]
    assert loaded["rows"] == 8
    assert os.listdir(tmp_path) == ["report.json"]


def test_intersections_are_reported_per_combination(report):
    cells = report["tasks"]["click"]["by_intersection"]
    assert set(cells) == {"pin_type=image & user_state=core", "pin_type=video & user_state=core",
                          "pin_type=video & user_state=new"}
    video_core = cells["pin_type=video & user_state=core"]  # rows 2, 4, 7
    assert (video_core["rows"], video_core["positives"]) == (3, 1)
    assert video_core["after"]["calibration_ratio"] == pytest.approx((0.2 + 0.5 + 0.4) / 1)


def test_calibration_methods_name_the_worst_cell(spec):
    """Calibrated probabilities are right except on video & new, where they are doubled."""
    rng = np.random.default_rng(0)
    rows = 40_000
    pin_type = rng.choice(["image", "video"], rows)
    user_state = rng.choice(["new", "core"], rows)
    truth = rng.uniform(0.05, 0.15, rows)
    labels = (rng.random(rows) < truth).astype(int)
    doubled = (pin_type == "video") & (user_state == "new")
    ours = np.where(doubled, 2 * truth, truth)
    columns = EvalColumns(
        labels={"click": labels, "video_watch": labels}, raw={"click": truth, "video_watch": truth},
        calibrated={"click": ours, "video_watch": ours},
        in_segment={"click": np.ones(rows, bool), "video_watch": pin_type == "video"},
        truth={}, segments={"pin_type": pin_type, "user_state": user_state},
        baselines={"platt": {"click": truth, "video_watch": truth}},
    )
    methods = report_lib.build_report(spec, columns)["tasks"]["click"]["calibration_methods"]
    assert set(methods) == {"ours", "platt"}
    assert methods["ours"]["worst_cell"]["cell"] == "pin_type=video & user_state=new"
    assert methods["ours"]["worst_cell"]["calibration_ratio"] == pytest.approx(2.0, rel=0.08)
    assert abs(methods["platt"]["worst_cell"]["calibration_ratio"] - 1) < 0.08
    assert methods["ours"]["ece"] > methods["platt"]["ece"]
    assert "click / platt" in report_lib.format_table(report_lib.build_report(spec, columns))
