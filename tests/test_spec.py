"""The one declaration: loading, and errors that name the file and the field."""
import json

import pytest

from tests.helpers import SHOP_SPEC
from transform.spec import SpecError, load_spec, packaged_spec, spec_from_dict


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
        (lambda s: s["features"][2].update(colour="red"), r"features\[2\]: unknown field\(s\) \['colour'\]"),
        (lambda s: s["tasks"][1]["segment"].update(feature="shape"), r"segment feature 'shape' is not a feature"),
        (lambda s: s["tasks"].append(dict(s["tasks"][0])), r"tasks declared twice: \['buy'\]"),
        (lambda s: s.update(report_segments=["size"]), r"report_segments names 'size'"),
    ],
)
def test_bad_spec_errors_name_file_and_field(tmp_path, mutate, message):
    raw = json.loads(json.dumps(SHOP_SPEC))
    mutate(raw)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(SpecError, match=message) as error:
        load_spec(str(path))
    assert str(path) in str(error.value)
