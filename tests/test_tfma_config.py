"""The TFMA EvalConfig generated from the spec, run with tensorflow-model-analysis on the export."""
import os

import pytest
import tensorflow_model_analysis as tfma
import tensorflow_transform as tft
from tensorflow_model_analysis.proto import config_pb2

from trainer.evaluation.tfma_config import eval_config
from transform.spec import packaged_spec

pytestmark = pytest.mark.e2e  # runs the real pipeline: `make test` runs it, `make test-fast` does not

SPEC = packaged_spec()


@pytest.fixture(scope="module")
def results(small_run, tmp_path_factory):
    config = eval_config(SPEC)
    model = tfma.default_eval_shared_model(eval_saved_model_path=small_run["export_dir"], eval_config=config)
    eval_files = os.path.join(small_run["dir"], "data", "eval", "*.tfrecord")
    return tfma.run_model_analysis(eval_shared_model=model, eval_config=config, data_location=eval_files,
                                   output_path=str(tmp_path_factory.mktemp("tfma")))


def _metrics(results, slice_key=()):
    for key, by_output in results.slicing_metrics:
        if key == slice_key:
            return by_output
    raise KeyError(slice_key)


def test_config_declares_every_task_and_slice():
    config = eval_config(SPEC)
    model_spec = config.model_specs[0]
    assert dict(model_spec.label_keys) == {task.name: task.label_key for task in SPEC.tasks}
    assert dict(model_spec.example_weight_keys) == {task.name: f"{task.name}__in_segment" for task in SPEC.tasks}
    assert list(model_spec.preprocessing_function_names) == ["transform_features"]
    assert [list(s.feature_keys) for s in config.slicing_specs] == [[], ["pin_type"], ["user_state"]]



def test_min_auc_bounds_each_tasks_auc_on_the_overall_slice_only():
    metrics = {metric.class_name: metric for metric in eval_config(SPEC, min_auc=0.7).metrics_specs[0].metrics}
    (bound,) = metrics.pop("AUC").per_slice_thresholds
    assert list(bound.slicing_specs) == [config_pb2.SlicingSpec()]
    assert bound.threshold.value_threshold.lower_bound.value == 0.7
    assert not any(metric.per_slice_thresholds or metric.HasField("threshold") for metric in metrics.values())
    assert not any(metric.per_slice_thresholds for metric in eval_config(SPEC).metrics_specs[0].metrics)

def test_tfma_reads_back_auc_and_calibration_per_task(results, small_run):
    overall = _metrics(results)
    report = small_run["report"]["tasks"]
    for task in SPEC.tasks:
        figures = overall[task.name][""]
        auc = figures["auc"]["doubleValue"]
        assert auc == pytest.approx(report[task.name]["overall"]["auc"], abs=0.02), task.name
        calibration = figures["calibration"]["doubleValue"]
        assert calibration == pytest.approx(report[task.name]["overall"]["after"]["calibration_ratio"], rel=0.02)


def test_tfma_slices_by_pin_type_vocabulary_index(results, small_run):
    """Slices read the transformed feature, so a pin type is named by its vocabulary index."""
    vocabulary = tft.TFTransformOutput(os.path.join(small_run["dir"], "transform")).vocabulary_by_name("pin_type")
    slices = {dict(key)["pin_type"]: value for key, value in results.slicing_metrics if key and "pin_type" in dict(key)}
    assert set(slices) == set(range(len(vocabulary)))
    video = vocabulary.index(b"video")
    video_rows = slices[video]["video_watch"][""]["example_count"]["doubleValue"]
    assert video_rows == small_run["report"]["tasks"]["video_watch"]["overall"]["rows"]
