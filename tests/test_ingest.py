"""Ingest through the real Beam pipeline: CSV and TFRecord inputs, every kind of split rule, exact counts."""
import gzip
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import example, write_records
from tests.test_validation import clicks_config, write_csv
from transform.input.ingest import ingest
from transform.input.reader import InputError
from transform.schema import logged_data_feature_spec, read_schema
from transform.spec import spec_from_dict

HEADER = "session, day, country, price, items, clicked, spend"
# items is the row's id; price is missing ("?") in row 2 and country in row 3.
DAYS_FILE = [
    "1, 1, US, 9.5, 1, yes, 0.0",
    "2, 1, FR, ?, 2, no, 12.5",
    "3, 2, ?, 3.0, 3, yes, 0",
    "4, 2, DE, 1.5, 4, no, 7",
    "5, 3, US, 2.0, 5, yes, 1",
    "6, 3, FR, 4.0, 6, no, 0",
    "7, 4, US, 5.0, 7, no, 2",
    "8, 4, DE, 6.0, 8, yes, 0",
]
HOLDOUT_FILE = ["9, 5, US, 1.0, 9, yes, 1", "10, 5, FR, 2.0, 10, no, 0"]
DAY_SPLITS = {
    "train": {"files": "days.csv.gz", "column": "day", "values": [1, 2]},
    "eval": {"files": "days.csv.gz", "column": "day", "values": [3]},
    "calibration": {"files": "days.csv.gz", "column": "day", "values": [4]},
    "test": {"files": "holdout.csv"},
}


def _write_csv_inputs(root) -> None:
    os.makedirs(root, exist_ok=True)
    with gzip.open(os.path.join(root, "days.csv.gz"), "wt") as handle:
        handle.write("\n".join([HEADER, *DAYS_FILE]) + "\n")
    write_csv(os.path.join(root, "holdout.csv"), [HEADER, *HOLDOUT_FILE])


def _day_spec(root, splits=DAY_SPLITS):
    raw = clicks_config([])
    raw["splits"] = splits
    return spec_from_dict(raw, root=str(root))


def _rows(data_dir, split, spec) -> dict:
    files = tf.io.gfile.glob(os.path.join(data_dir, split, "*.tfrecord"))
    records = tf.stack([record for record in tf.data.TFRecordDataset(files)])
    parsed = tf.io.parse_example(records, logged_data_feature_spec(spec))
    return {name: tf.sparse.to_dense(value, default_value=_missing(value.dtype)).numpy()[:, 0]
            for name, value in parsed.items()}


def _missing(dtype):
    return {tf.string: b"<missing>", tf.int64: -1, tf.float32: -1.0}[dtype]


@pytest.fixture(scope="module")
def csv_ingest(tmp_path_factory):
    root = tmp_path_factory.mktemp("csv_input")
    _write_csv_inputs(root)
    spec = _day_spec(root)
    metadata = ingest(spec, str(root / "data"))
    return spec, str(root / "data"), metadata


def test_csv_rows_join_the_split_of_their_column_value_or_file(csv_ingest):
    spec, data_dir, metadata = csv_ingest
    expected = {"train": [1, 2, 3, 4], "eval": [5, 6], "calibration": [7, 8], "test": [9, 10]}
    for split, items in expected.items():
        assert sorted(_rows(data_dir, split, spec)["items"]) == items, split
    assert {split: stats["rows"] for split, stats in metadata["splits"].items()} == {
        "train": 4, "eval": 2, "calibration": 2, "test": 2}
    assert metadata["unassigned_rows"] == 0


def test_csv_cells_are_stripped_typed_and_missing_values_left_out(csv_ingest):
    spec, data_dir, _ = csv_ingest
    train = _rows(data_dir, "train", spec)
    order = np.argsort(train["items"])
    assert list(train["country"][order]) == [b"US", b"FR", b"<missing>", b"DE"]
    np.testing.assert_allclose(train["price"][order], [9.5, -1.0, 3.0, 1.5])
    assert list(train["clicked"][order]) == [b"yes", b"no", b"yes", b"no"]
    np.testing.assert_allclose(train["spend"][order], [0.0, 12.5, 0.0, 7.0])
    assert train["items"].dtype == np.int64


def test_metadata_counts_positives_with_the_label_mapping(csv_ingest):
    _, data_dir, metadata = csv_ingest
    assert metadata["splits"]["train"]["positive_rate"] == {"click": 0.5, "spend": 0.5}
    assert metadata["splits"]["test"]["positive_rate"] == {"click": 0.5, "spend": 0.5}
    assert json.load(open(os.path.join(data_dir, "metadata.json"))) == json.loads(json.dumps(metadata))


def test_schemas_are_saved_beside_the_data(csv_ingest):
    spec, data_dir, metadata = csv_ingest
    assert metadata["input_schema_inferred"] is True
    inferred = {feature.name for feature in read_schema(os.path.join(data_dir, "input_schema.pbtxt")).feature}
    assert inferred == {"session", "day", "country", "price", "items", "clicked", "spend"}
    written = {feature.name for feature in read_schema(os.path.join(data_dir, "schema.pbtxt")).feature}
    assert written == set(logged_data_feature_spec(spec))
    assert not [name for name in os.listdir(os.path.dirname(data_dir)) if ".tmp-" in name]


def test_tfrecord_rows_are_split_by_the_hash_of_their_key(tmp_path):
    rows = [dict(session=row // 4, country="US", price=1.0, items=row, clicked="yes" if row % 2 else "no",
                 spend=float(row % 3)) for row in range(200)]
    path = write_records(str(tmp_path / "logs.tfrecord"), [example(**row) for row in rows])
    raw = clicks_config([path], file_format="tfrecord")
    raw["splits"] = {"hash_key": "session", "train": {"fraction": 0.6}, "eval": {"fraction": 0.2},
                     "calibration": {"fraction": 0.2}}
    spec = spec_from_dict(raw)
    ingest(spec, str(tmp_path / "data"))
    sessions = [str(session) for session in range(50)]
    hashes = tf.strings.to_hash_bucket_fast(sessions, 1_000_000).numpy() / 1e6
    expected_split = np.select([hashes < 0.6, hashes < 0.8], ["train", "eval"], "calibration")
    for split in ("train", "eval", "calibration"):
        items = _rows(str(tmp_path / "data"), split, spec)["items"]
        assert sorted(items) == [row for row in range(200) if expected_split[row // 4] == split], split


def test_an_empty_split_fails_ingest_naming_its_rule(tmp_path):
    _write_csv_inputs(tmp_path)
    splits = {**DAY_SPLITS, "eval": {"files": "days.csv.gz", "column": "day", "values": [99]}}
    with pytest.raises(InputError, match=r"split 'eval' is empty: no input row matches rule 'eval' "
                                         r"\(files \[.*days\.csv\.gz'\], day in \['99'\]\)"):
        ingest(_day_spec(tmp_path, splits), str(tmp_path / "data"))
    assert not os.path.exists(tmp_path / "data")


def test_a_task_without_positives_fails_ingest(tmp_path):
    _write_csv_inputs(tmp_path)
    raw = clicks_config([])
    raw["splits"] = DAY_SPLITS
    raw["tasks"][1]["threshold"] = 100.0
    with pytest.raises(InputError) as error:
        ingest(spec_from_dict(raw, root=str(tmp_path)), str(tmp_path / "data"))
    assert ("task 'spend' in split 'train' (4 rows): no positive row; label column 'spend' maps to 0 "
            "everywhere (label > 100)") in str(error.value)
    assert "task 'spend' in split 'test' (2 rows): no positive row" in str(error.value)
