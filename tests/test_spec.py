"""The one declaration: loading, and errors that name the file and the field."""
import json

import pytest

from tests.helpers import SHOP_SPEC
from transform.source import hash_ranges
from transform.spec import SpecError, load_spec, packaged_spec, spec_from_dict, spec_to_dict

CSV_INPUT = {
    "input": {"format": "csv", "files": ["logs/*.csv"], "missing_values": ["?"]},
    "splits": {
        "hash_key": "uid",
        "train": {"fraction": 0.8},
        "calibration": {"fraction": 0.1},
        "eval": {"fraction": 0.1},
        "test": {"files": "holdout.csv"},
    },
}


def _shop_with(**sections):
    return {**json.loads(json.dumps(SHOP_SPEC)), **json.loads(json.dumps(sections))}


def test_packaged_spec_declares_the_home_feed_tasks():
    spec = packaged_spec()
    assert spec.task_names == ("closeup", "click", "long_click", "save", "hide", "video_watch")
    assert spec.utility_weights["hide"] < 0
    video_watch = spec.tasks[-1]
    assert video_watch.segment.feature == "pin_type" and video_watch.segment.values == ("video",)
    assert spec.feature("pin_id").kind == "id"


def test_json_and_yaml_load_the_same_spec(tmp_path):
    path = tmp_path / "shop.json"
    path.write_text(json.dumps(SHOP_SPEC))
    assert load_spec(str(path)) == spec_from_dict(SHOP_SPEC)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda s: s["features"][0].update(kind="embedding"), r"features\[0\] \(color\): kind 'embedding'"),
        (lambda s: s["features"][1].update(vocab_size=0), r"features\[1\] \(uid\): vocab_size must be positive"),
        (lambda s: s["features"][2].update(clip=[5, 1]), r"features\[2\] \(age\): clip"),
        (lambda s: s["features"][2].update(colour="red"), r"features\[2\]: unknown field 'colour'; expected some of"),
        (lambda s: s["features"][2].update(embeding_dim=4),
         r"features\[2\]: unknown field 'embeding_dim' \(did you mean 'embedding_dim'\?\)"),
        (lambda s: s.update(report_segment=["color"]),
         r"bad.json: unknown field 'report_segment' \(did you mean 'report_segments'\?\)"),
        (lambda s: s["features"][1].update(vocab_size="20"),
         r"features\[1\].vocab_size: expected an integer, got '20'"),
        (lambda s: s["features"][2].update(clip=["low", "high"]),
         r"features\[2\].clip: expected a list of 2 values or null, got \('low', 'high'\)"),
        (lambda s: s["tasks"][0].update(utility_weight="high"),
         r"tasks\[0\].utility_weight: expected a number, got 'high'"),
        (lambda s: s.update(report_segments="color"),
         r"bad.json: report_segments: expected a list of strings, got 'color'"),
        (lambda s: s["tasks"][1]["segment"].update(feature="shape"), r"segment feature 'shape' is not a feature"),
        (lambda s: s["tasks"].append(dict(s["tasks"][0])), r"tasks declared twice: \['buy'\]"),
        (lambda s: s.update(report_segments=["size"]), r"report_segments names 'size'"),
        (lambda s: s["tasks"][0].update(label_dtype="string"),
         r"tasks\[0\] \(buy\): a string label needs positive_values"),
        (lambda s: s["tasks"][0].update(label_dtype="float", positive_values=[1]),
         r"tasks\[0\] \(buy\): positive_values needs a string or int64 label"),
        (lambda s: s["tasks"][0].update(positive_values=["1"], threshold=0.5), r"give positive_values or threshold"),
        (lambda s: s["tasks"][0].update(positive_values=["one"]), r"positive_values \['one'\] are not all integers"),
        (lambda s: s["tasks"][0].update(label_dtype="bool"), r"label_dtype 'bool' is not one of"),
        (lambda s: s["tasks"][1].update(label="buy", label_dtype="float", threshold=0),
         r"tasks read label column 'buy' with different label_dtype"),
        (lambda s: s["input"].update(format="parquet"), r"input.format: 'parquet' is not one of"),
        (lambda s: s["input"].update(delimiter=", "), r"input.delimiter: expected one character"),
        (lambda s: s["input"].update(header=False), r"input: csv without a header line needs column_names"),
        (lambda s: s["splits"].pop("calibration"), r"splits: required split\(s\) \['calibration'\] are not declared"),
        (lambda s: s["splits"].update(valid={"fraction": 0.1}), r"splits: unknown split\(s\) \['valid'\]"),
        (lambda s: s["splits"]["train"].update(fraction=0.85),
         r"fractions of splits \['train', 'calibration', 'eval'\] add up to 1.05"),
        (lambda s: s["splits"]["train"].pop("fraction"),
         r"splits \['train', 'calibration', 'eval'\] read the same rows; each needs a fraction"),
        (lambda s: s["splits"]["eval"].update(fraction=0), r"splits.eval.fraction: expected a number in \(0, 1\]"),
        (lambda s: s["splits"]["test"].update(column="day"), r"splits.test: 'column' and 'values' go together"),
        (lambda s: s["input"].pop("files"), r"splits.train names no files and input.files is empty"),
        (lambda s: s.pop("splits"), r"input format 'csv' needs a 'splits' section"),
    ],
)
def test_bad_spec_errors_name_file_and_field(tmp_path, mutate, message):
    raw = _shop_with(**CSV_INPUT)
    mutate(raw)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(SpecError, match=message) as error:
        load_spec(str(path))
    assert str(path) in str(error.value)



def test_input_and_splits_resolve_relative_paths_against_the_data_root(tmp_path, monkeypatch):
    path = tmp_path / "conf" / "shop.json"
    path.parent.mkdir()
    path.write_text(json.dumps(_shop_with(**CSV_INPUT)))
    monkeypatch.delenv("FEEDRANK_DATA_ROOT", raising=False)
    spec = load_spec(str(path))
    assert spec.input.files == (str(tmp_path / "conf" / "logs" / "*.csv"),)
    assert spec.input.header is True and spec.input.missing_values == ("?",)
    assert spec.splits.names == ("train", "calibration", "eval", "test")
    assert spec.splits.hash_key == "uid"
    assert hash_ranges(spec.splits) == {
        "train": (0.0, 0.8), "calibration": (0.8, 0.9), "eval": (0.9, pytest.approx(1.0)), "test": (0.0, 1.0)
    }
    monkeypatch.setenv("FEEDRANK_DATA_ROOT", "/data/env")
    assert load_spec(str(path)).splits.rules[3].files == ("/data/env/holdout.csv",)
    assert load_spec(str(path), "/data/flag").input.files == ("/data/flag/logs/*.csv",)


def test_packaged_specs_load_by_name():
    census = load_spec("census", "/data")
    assert census.task_names == ("income", "never_married")
    assert census.input.format == "csv" and census.input.header is False
    assert {rule.split: rule.files for rule in census.splits.rules}["test"] == ("/data/census-income.test.gz",)
    feature_names = {feature.name for feature in census.features}
    assert len(census.input.column_names) == 42
    assert set(census.input.column_names) - feature_names == {"instance_weight", "marital_stat", "income_50k"}
    assert packaged_spec().input.format == "simulator" and packaged_spec().splits is None


def test_label_mappings_parse_into_text_values():
    raw = _shop_with()
    raw["tasks"][0].update(label_dtype="string", positive_values=["yes", "y"])
    raw["tasks"][1].update(label_dtype="float", threshold=2.5)
    spec = spec_from_dict(raw)
    assert spec.tasks[0].positive_values == ("yes", "y")
    assert spec.tasks[1].threshold == 2.5 and spec.tasks[1].positive_values is None


@pytest.mark.parametrize("name", ["homefeed", "census"])
def test_a_spec_written_as_plain_data_reads_back_equal(name):
    spec = load_spec(name, "/data")
    assert spec_from_dict(json.loads(json.dumps(spec_to_dict(spec))), source=name) == spec
