"""Property-based tests of the serving signatures: whatever a request holds, never NaN, never a crash.

Requests are drawn by hypothesis from every feature's declared dtype with its extremes (the
int64 range, NaN, +-inf, float32's largest values, empty and very long strings, unknown ids
and categories), features left out, and features of another kind than declared or with more
or fewer than one value. A well-typed request must score: every probability in [0, 1], every
output finite. A mistyped one must fail alone, with InvalidArgument naming the feature (for
`serving_raw`, TensorFlow's dtype check names the input by its position among the sorted
input names), and the loaded model must go on serving.
"""
import re

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trainer.export.signatures import SERVING_DEFAULT, SERVING_RAW
from trainer.model.scoring import UTILITY
from transform.schema import TF_DTYPES
from transform.spec import packaged_spec

pytestmark = pytest.mark.e2e  # runs the real pipeline: `make test` runs it, `make test-fast` does not

SPEC = packaged_spec()
PROPERTY_SETTINGS = settings(max_examples=40, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
INT64_RANGE = (-2**63, 2**63 - 1)
FLOAT32_MAX = float(np.finfo(np.float32).max)
LIST_KINDS = {"int64": "int64_list", "float": "float_list", "string": "bytes_list"}
MALFORMED = ("wrong_type", "no_value", "two_values")


def _long_text():
    return st.builds(lambda character, repeat: character * repeat, st.characters(codec="utf-8"),
                     st.integers(1_000, 50_000))


VALUES = {
    "int64": st.integers(*INT64_RANGE) | st.sampled_from([0, -1, INT64_RANGE[0], INT64_RANGE[1]]),
    "float": st.floats(width=32) | st.sampled_from([np.nan, np.inf, -np.inf, FLOAT32_MAX, -FLOAT32_MAX, -0.0]),
    "string": st.text(max_size=12) | _long_text() | st.sampled_from(["", "video", "unknown", "\x00"]),
}
# A value of another kind than declared, for each declared dtype.
WRONG_VALUES = {
    "int64": st.one_of(st.tuples(st.just("float_list"), st.floats(width=32)),
                       st.tuples(st.just("bytes_list"), st.text(max_size=8))),
    "float": st.one_of(st.tuples(st.just("int64_list"), st.integers(*INT64_RANGE)),
                       st.tuples(st.just("bytes_list"), st.text(max_size=8))),
    "string": st.one_of(st.tuples(st.just("int64_list"), st.integers(*INT64_RANGE)),
                        st.tuples(st.just("float_list"), st.floats(width=32))),
}


@pytest.fixture(scope="module")
def loaded(small_run):
    return tf.saved_model.load(small_run["export_dir"]).signatures


def _feature(kind: str, values: list) -> tf.train.Feature:
    if kind == "bytes_list":
        values = [value.encode("utf-8") for value in values]
    return tf.train.Feature(**{kind: getattr(tf.train, kind.title().replace("_", ""))(value=values)})


@st.composite
def example_feature(draw, dtype: str, malformed: bool):
    """(how, tf.train.Feature or None): well-typed ("ok"), left out ("missing"), or if `malformed`
    possibly not one value of the dtype (one of MALFORMED)."""
    how = draw(st.sampled_from(["ok", "ok", "missing", *(MALFORMED if malformed else ())]))
    if how == "missing":
        return how, None
    if how == "wrong_type":
        kind, value = draw(WRONG_VALUES[dtype])
        return how, _feature(kind, [value])
    count = {"ok": 1, "no_value": 0, "two_values": 2}[how]
    return how, _feature(LIST_KINDS[dtype], draw(st.lists(VALUES[dtype], min_size=count, max_size=count)))


@st.composite
def example_request(draw):
    """(serialized examples, names of the features not holding exactly one value of their dtype).

    Half the requests are well-typed throughout, so that both outcomes are drawn often.
    """
    examples, malformed, may_be_malformed = [], set(), draw(st.booleans())
    for _ in range(draw(st.integers(1, 4))):
        features = {}
        for feature in SPEC.features:
            how, value = draw(example_feature(feature.dtype, may_be_malformed))
            if value is not None:
                features[feature.name] = value
            if how in MALFORMED:
                malformed.add(feature.name)
        examples.append(tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString())
    return examples, malformed


@st.composite
def raw_request(draw):
    """One column of 1-4 values per feature, of its declared dtype, drawn from its extremes."""
    rows = draw(st.integers(1, 4))
    return {
        feature.name: draw(st.lists(VALUES[feature.dtype], min_size=rows, max_size=rows)) for feature in SPEC.features
    }


def _raw_tensors(columns: dict) -> dict:
    return {feature.name: tf.constant(columns[feature.name], TF_DTYPES[feature.dtype]) for feature in SPEC.features}


def _assert_valid_scores(outputs: dict, rows: int) -> None:
    assert set(outputs) == {*SPEC.task_names, UTILITY}
    for name, value in outputs.items():
        value = value.numpy()
        assert value.shape == (rows,), name
        assert np.isfinite(value).all(), (name, value)
        if name != UTILITY:
            assert ((value >= 0) & (value <= 1)).all(), (name, value)


@PROPERTY_SETTINGS
@given(request=example_request())
def test_serving_default_scores_any_well_typed_request_and_names_a_mistyped_feature(loaded, request):
    examples, malformed = request
    if not malformed:
        _assert_valid_scores(loaded[SERVING_DEFAULT](examples=tf.constant(examples)), len(examples))
        return
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        loaded[SERVING_DEFAULT](examples=tf.constant(examples))
    named = set(re.findall(r"Key: (\w+)", error.value.message))
    assert named and named <= malformed, (named, malformed)


@PROPERTY_SETTINGS
@given(columns=raw_request())
def test_serving_raw_scores_any_values_of_the_declared_dtypes(loaded, columns):
    rows = len(columns[SPEC.features[0].name])
    _assert_valid_scores(loaded[SERVING_RAW](**_raw_tensors(columns)), rows)


@PROPERTY_SETTINGS
@given(columns=raw_request(), data=st.data())
def test_serving_raw_rejects_a_column_of_another_dtype_and_goes_on_serving(loaded, columns, data):
    feature = data.draw(st.sampled_from(SPEC.features))
    wrong_dtype = data.draw(st.sampled_from(sorted({"int64", "float", "string"} - {feature.dtype})))
    rows = len(columns[feature.name])
    wrong_values = data.draw(st.lists(VALUES[wrong_dtype], min_size=rows, max_size=rows))
    tensors = {**_raw_tensors(columns), feature.name: tf.constant(wrong_values, TF_DTYPES[wrong_dtype])}
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        loaded[SERVING_RAW](**tensors)
    position = sorted(feature.name for feature in SPEC.features).index(feature.name)
    assert f"input #{position}(zero-based)" in error.value.message
    _assert_valid_scores(loaded[SERVING_RAW](**_raw_tensors(columns)), rows)
