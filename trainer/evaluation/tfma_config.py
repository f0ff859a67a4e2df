"""The TFMA EvalConfig a TFX Evaluator would use for an exported model, from the spec.

One output per task (the calibrated probability named after it). Labels and example
weights are read from the transformed features, produced inside the export by its
`transform_features` signature: `<task>__label` is the 0/1 label after the spec's label
mapping, and `<task>__in_segment` is the example weight: 1 on every row for most tasks, 0
outside the segment of a segment-only task (video_watch counts on video pins only). Metrics
per task: example count, AUC, calibration (mean prediction / mean label), a calibration plot; sliced overall and by each report segment. TFMA slices on the
transformed feature, so a segment value appears as its vocabulary index (the vocabulary is
the export's `assets/<feature>` file, one value per line, index = line number).

With `min_auc`, the AUC of every task on the overall slice (not each segment's) must reach it:
TFX's Evaluator blesses the model only then (without a threshold it never blesses one).
"""
from __future__ import annotations

from tensorflow_model_analysis.proto import config_pb2

from transform.spec import Spec

TRANSFORM_FEATURES_SIGNATURE = "transform_features"
TASK_METRICS = ("ExampleCount", "AUC", "Calibration", "MeanLabel", "MeanPrediction", "CalibrationPlot")


def eval_config(spec: Spec, signature_name: str = "serving_default",
                min_auc: float | None = None) -> config_pb2.EvalConfig:
    """Builds the EvalConfig of an export of `spec`; `min_auc` adds a lower bound on each task's AUC."""
    model_spec = config_pb2.ModelSpec(
        signature_name=signature_name,
        preprocessing_function_names=[TRANSFORM_FEATURES_SIGNATURE],
        label_keys={task.name: task.label_key for task in spec.tasks},
        prediction_keys={task.name: task.name for task in spec.tasks},
        example_weight_keys={task.name: task.segment_key for task in spec.tasks},
    )
    metrics_spec = config_pb2.MetricsSpec(
        metrics=[_metric_config(name, min_auc) for name in TASK_METRICS],
        output_names=list(spec.task_names),
        example_weights=config_pb2.ExampleWeightOptions(weighted=True, unweighted=False),
    )
    slicing_specs = [config_pb2.SlicingSpec(),
                     *(config_pb2.SlicingSpec(feature_keys=[name]) for name in spec.report_segments)]
    return config_pb2.EvalConfig(model_specs=[model_spec], metrics_specs=[metrics_spec], slicing_specs=slicing_specs)


def _metric_config(class_name: str, min_auc: float | None) -> config_pb2.MetricConfig:
    if class_name != "AUC" or min_auc is None:
        return config_pb2.MetricConfig(class_name=class_name)
    lower_bound = config_pb2.MetricThreshold(
        value_threshold=config_pb2.GenericValueThreshold(lower_bound={"value": min_auc}))
    overall_only = config_pb2.PerSliceMetricThreshold(slicing_specs=[config_pb2.SlicingSpec()], threshold=lower_bound)
    return config_pb2.MetricConfig(class_name=class_name, per_slice_thresholds=[overall_only])
