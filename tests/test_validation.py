"""Validation of a user's input against the data config, on a sample: one clear error per problem."""
import json
import os

import pytest
import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2

from pipeline import cli
from tests.helpers import example, write_records
from transform.input.reader import InputError
from transform.input.validation import validate_input
from transform.schema import write_schema
from transform.spec import load_spec, spec_from_dict

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CENSUS_ROOT = os.environ.get("FEEDRANK_DATA_ROOT") or os.path.join(REPO, "..", "shared", "datasets", "census-income")
HEADER = "session, country, price, items, clicked, spend"
GOOD_ROWS = [
    "1, US, 9.5, 2, yes, 0.0",
    "2, FR, 3.0, 1, no, 12.5",
    "3, ?, ?, 1, no, 0",          # missing category and price: handled by preprocessing
    "4, Atlantis, 1e9, 400, yes, 3",   # unknown category, outliers: handled by preprocessing
]


def clicks_config(files, file_format="csv", **input_options) -> dict:
    return {
        "name": "clicks",
        "input": {"format": file_format, "files": files, "missing_values": ["?"], **input_options},
        "splits": {"hash_key": "session", "train": {"fraction": 0.8}, "eval": {"fraction": 0.1},
                   "calibration": {"fraction": 0.1}},
        "features": [
            {"name": "country", "kind": "categorical", "dtype": "string", "vocab_size": 10},
            {"name": "price", "kind": "numeric", "dtype": "float", "default": 1.0},
            {"name": "items", "kind": "numeric", "dtype": "int64"},
        ],
        "tasks": [
            {"name": "click", "label": "clicked", "label_dtype": "string", "positive_values": ["yes"],
             "utility_weight": 1.0},
            {"name": "spend", "label": "spend", "label_dtype": "float", "threshold": 0.0, "utility_weight": 2.0},
        ],
    }


def write_csv(path, lines) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return str(path)


def csv_problem(tmp_path, lines, mutate=None) -> str:
    raw = clicks_config([write_csv(tmp_path / "in.csv", lines)])
    if mutate:
        mutate(raw)
    with pytest.raises(InputError) as error:
        validate_input(spec_from_dict(raw))
    return str(error.value)


def test_unusual_values_pass_and_a_schema_is_inferred(tmp_path):
    checked = validate_input(spec_from_dict(clicks_config([write_csv(tmp_path / "in.csv", [HEADER, *GOOD_ROWS])])))
    assert checked.sample_rows == 4 and checked.inferred
    assert checked.column_names == ("session", "country", "price", "items", "clicked", "spend")
    types = {feature.name: feature.type for feature in checked.schema.feature}
    assert types == {"session": schema_pb2.INT, "country": schema_pb2.BYTES, "price": schema_pb2.FLOAT,
                     "items": schema_pb2.INT, "clicked": schema_pb2.BYTES, "spend": schema_pb2.FLOAT}
    presence = {feature.name: feature.presence.min_fraction for feature in checked.schema.feature}
    assert presence["price"] == 0.75 and presence["country"] == 0.75 and presence["items"] == 1.0


def test_missing_column_names_the_column_its_role_and_the_file(tmp_path):
    message = csv_problem(tmp_path, ["session, country, items, clicked, spend", "1, US, 2, yes, 1.0"])
    assert f"{tmp_path / 'in.csv'}: column 'price' (feature 'price') is missing" in message
    assert "'country', 'items'" in message


def test_missing_label_and_split_columns_are_reported_together(tmp_path):
    message = csv_problem(tmp_path, ["id, country, price, items, clicked", "1, US, 2.0, 2, yes"])
    assert "column 'spend' (label of task 'spend') is missing" in message
    assert "column 'session' (split column) is missing" in message


def test_csv_cell_of_the_wrong_type_names_file_line_and_value(tmp_path):
    message = csv_problem(tmp_path, [HEADER, *GOOD_ROWS[:2], "3, US, cheap, 1, no, 0"])
    assert f"{tmp_path / 'in.csv'} line 4: column 'price' (feature 'price') holds 'cheap', not of dtype float" in message


def test_integer_feature_rejects_fractions(tmp_path):
    message = csv_problem(tmp_path, [HEADER, "1, US, 9.5, 2.5, yes, 0.0", *GOOD_ROWS[1:]])
    assert "line 2: column 'items' (feature 'items') holds '2.5', not of dtype int64" in message


def test_unmapped_label_must_be_binary(tmp_path):
    def unmapped(raw):
        raw["tasks"][1] = {"name": "spend", "label": "spend", "label_dtype": "float", "utility_weight": 1.0}

    message = csv_problem(tmp_path, [HEADER, *GOOD_ROWS], unmapped)
    assert ("label column 'spend' of task 'spend' holds values [0.0, 3.0, 12.5]; expected 0/1, "
            "or declare positive_values or threshold") in message


def test_wrong_number_of_values_names_the_line(tmp_path):
    message = csv_problem(tmp_path, [HEADER, GOOD_ROWS[0], "2, FR, 3.0, 1, no"])
    assert f"{tmp_path / 'in.csv'} line 3: 5 values, expected 6" in message


def test_a_pattern_matching_no_file_is_named(tmp_path):
    raw = clicks_config([str(tmp_path / "nowhere" / "*.csv")])
    with pytest.raises(InputError, match=r"no file matches '.*nowhere/\*\.csv'.*--data-root"):
        validate_input(spec_from_dict(raw))


def test_headers_must_agree_across_files(tmp_path):
    first = write_csv(tmp_path / "a.csv", [HEADER, GOOD_ROWS[0]])
    second = write_csv(tmp_path / "b.csv", ["session, country, cost, items, clicked, spend", GOOD_ROWS[1]])
    with pytest.raises(InputError, match=r"b\.csv line 1: header \[.*'cost'.*\] differs from the first file's"):
        validate_input(spec_from_dict(clicks_config([first, second])))


def _tfrecord_problem(tmp_path, rows) -> str:
    path = write_records(str(tmp_path / "in.tfrecord"), [example(**row) for row in rows])
    with pytest.raises(InputError) as error:
        validate_input(spec_from_dict(clicks_config([path], file_format="tfrecord")))
    return str(error.value)


GOOD_EXAMPLE = dict(session=1, country="US", price=9.5, items=2, clicked="yes", spend=0.0)


def test_tfrecord_value_kind_must_match_the_declared_dtype(tmp_path):
    message = _tfrecord_problem(tmp_path, [{**GOOD_EXAMPLE, "items": 2.0}])
    expected = "column 'items' (feature 'items') holds float values; the spec declares int64"
    assert f"{tmp_path / 'in.tfrecord'}: {expected}" in message


def test_tfrecord_value_kinds_must_agree_across_records(tmp_path):
    message = _tfrecord_problem(tmp_path, [GOOD_EXAMPLE, {**GOOD_EXAMPLE, "items": 2.0}])
    assert "in.tfrecord: records are not tf.Examples with one value kind per column" in message
    assert 'expected int64_list, found float_list for feature "items"' in message


def test_tfrecord_column_with_two_values_in_a_row(tmp_path):
    path = write_records(str(tmp_path / "in.tfrecord"), [example(**GOOD_EXAMPLE), _two_countries()])
    expected = r"in\.tfrecord record 1: column 'country' \(feature 'country'\) holds 2 values"
    with pytest.raises(InputError, match=expected):
        validate_input(spec_from_dict(clicks_config([path], file_format="tfrecord")))


def _two_countries() -> bytes:
    parsed = tf.train.Example.FromString(example(**GOOD_EXAMPLE))
    parsed.features.feature["country"].bytes_list.value.append(b"FR")
    return parsed.SerializeToString()


def test_tfrecord_missing_column(tmp_path):
    row = {key: value for key, value in GOOD_EXAMPLE.items() if key != "clicked"}
    message = _tfrecord_problem(tmp_path, [row])
    assert "column 'clicked' (label of task 'click') is missing" in message


def test_given_schema_types_are_checked_against_the_spec(tmp_path):
    schema = schema_pb2.Schema()
    for name, kind in (("session", schema_pb2.INT), ("country", schema_pb2.BYTES), ("price", schema_pb2.BYTES),
                       ("items", schema_pb2.INT), ("clicked", schema_pb2.BYTES), ("spend", schema_pb2.FLOAT)):
        schema.feature.add(name=name, type=kind)
    schema_path = str(tmp_path / "schema.pbtxt")
    write_schema(schema, schema_path)
    raw = clicks_config([write_csv(tmp_path / "in.csv", [HEADER, *GOOD_ROWS])], schema=schema_path)
    expected = rf"{schema_path}: column 'price' \(feature 'price'\) is string; the spec declares float"
    with pytest.raises(InputError, match=expected):
        validate_input(spec_from_dict(raw))


def test_census_spec_validates_against_the_shared_files():
    if not os.path.isdir(CENSUS_ROOT):
        pytest.skip(f"census-income not found at {CENSUS_ROOT} (set FEEDRANK_DATA_ROOT)")
    checked = validate_input(load_spec("census", CENSUS_ROOT))
    assert checked.sample_rows == 4000 and len(checked.plan) == 2
    types = {feature.name: feature.type for feature in checked.schema.feature}
    assert len(types) == 42
    assert types["age"] == schema_pb2.INT and types["income_50k"] == schema_pb2.BYTES
    presence = {feature.name: feature.presence.min_fraction for feature in checked.schema.feature}
    assert 0 < presence["mig_chg_msa"] < 1 and presence["age"] == 1.0


def test_command_line_reports_problems_without_a_traceback(tmp_path, capsys):
    path = tmp_path / "clicks.json"
    path.write_text(json.dumps(clicks_config([write_csv(tmp_path / "in.csv", [HEADER, "1, US, cheap, 2, yes, 0"])])))
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["validate", "--spec", str(path)])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("feedrank validate: the input of spec 'clicks' does not match it:")
    assert "line 2: column 'price' (feature 'price') holds 'cheap', not of dtype float" in error
    assert "Traceback" not in error
