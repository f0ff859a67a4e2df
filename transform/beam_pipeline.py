"""The tf.Transform Beam pipeline: analyze on train, transform every split, write it all.

Output layout (what the trainer reads through `tft.TFTransformOutput`):
  <output_dir>/transform_fn/, transformed_metadata/   the transform graph and its schema
  <output_dir>/transformed/<split>/part-*.tfrecord     transformed tf.Examples per split
  <output_dir>/metadata/                               the raw schema the pipeline read with
Data is read through TFXIO. The DirectRunner is the default; any runner (Dataflow, Flink,
Spark) and its options come through `beam_args`, e.g. `--runner=DataflowRunner --project=..`.
"""
from __future__ import annotations

import logging
import os
import shutil

import apache_beam as beam
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from apache_beam import coders
from apache_beam.io import tfrecordio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.options.pipeline_options import PipelineOptions
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io
from tfx_bsl.coders import example_coder
from tfx_bsl.public import tfxio

from transform import schema as schema_lib
from transform.common.files import atomic_directory
from transform.preprocessing import make_preprocessing_fn
from transform.spec import Spec
from transform.splits import TRAIN_SPLIT, TRANSFORMED_DIR

# Rows per record batch read, analyzed, transformed and written. TFXIO's default lets Beam
# tune batches up to 1,000 rows; every batch costs a TF function call in each phase and a
# round of Python bookkeeping, and 10,000 rows cut the pipeline's CPU time by a quarter
# (bench/transform_throughput.py) while a batch of ~20 columns stays a few MB.
RECORD_BATCH_ROWS = 10_000
_LOG = logging.getLogger(__name__)


def run_transform(spec: Spec, patterns: dict[str, str], output_dir: str, beam_args: list[str] | None = None) -> str:
    """Analyzes the train split, writes transform_fn and every transformed split.

    Args:
      spec: the feature/task declaration.
      patterns: split name -> file pattern of raw tf.Example TFRecords; must contain "train".
      output_dir: written atomically: it appears only once every split is written.
      beam_args: Beam pipeline options, passed through unchanged.
    Returns:
      output_dir.
    """
    if TRAIN_SPLIT not in patterns:
        raise ValueError(f"patterns must include the {TRAIN_SPLIT!r} split; got {sorted(patterns)}")
    raw_schema = schema_lib.schema_from_spec(schema_lib.transform_feature_spec(spec))
    with atomic_directory(output_dir) as tmp_dir:
        metadata_io.write_metadata(
            dataset_metadata.DatasetMetadata(raw_schema), os.path.join(tmp_dir, tft.TFTransformOutput.RAW_METADATA_DIR)
        )
        _LOG.info("transform: analyzing %s, transforming %s", patterns[TRAIN_SPLIT], sorted(patterns))
        with beam.Pipeline(options=PipelineOptions(beam_args or [])) as pipeline:
            with tft_beam.Context(temp_dir=os.path.join(tmp_dir, "tmp"), force_tf_compat_v1=False):
                _build(pipeline, spec, raw_schema, patterns, tmp_dir)
        shutil.rmtree(os.path.join(tmp_dir, "tmp"), ignore_errors=True)
    _LOG.info("transform: wrote %s", output_dir)
    return output_dir


def _build(pipeline, spec: Spec, raw_schema, patterns: dict[str, str], out_dir: str) -> None:
    sources = {
        split: tfxio.TFExampleRecord(file_pattern=pattern, schema=raw_schema, telemetry_descriptors=["feedrank"])
        for split, pattern in patterns.items()
    }
    raw_data = {
        split: pipeline
        | f"Read[{split}]" >> source.BeamSource(batch_size=RECORD_BATCH_ROWS)
        | f"Progress[{split}]" >> beam.ParDo(LogProgress(f"transform: {split}"))
        for split, source in sources.items()
    }
    train_source = sources[TRAIN_SPLIT]
    transform_fn = (
        raw_data[TRAIN_SPLIT],
        train_source.TensorAdapterConfig(),
    ) | "Analyze" >> tft_beam.AnalyzeDataset(make_preprocessing_fn(spec))
    _ = transform_fn | "WriteTransformFn" >> tft_beam.WriteTransformFn(out_dir)
    for split, source in sources.items():
        transformed, _ = (
            (raw_data[split], source.TensorAdapterConfig()),
            transform_fn,
        ) | f"Transform[{split}]" >> tft_beam.TransformDataset(output_record_batches=True)
        _ = (
            transformed
            | f"Encode[{split}]" >> beam.Map(lambda batch_and_extra: example_coder.RecordBatchToExamples(batch_and_extra[0]))
            | f"Write[{split}]" >> beam.io.Write(BatchedTFRecordSink(os.path.join(out_dir, TRANSFORMED_DIR, split, "part")))
        )


class BatchedTFRecordSink(tfrecordio._TFRecordSink):
    """Writes `<prefix>-SSSSS-of-NNNNN.tfrecord` like `WriteToTFRecord`, from lists of records.

    One element is a whole batch of serialized examples, so Beam's per-element work (windowed
    values, coders, the materialised PCollection before the write) happens once per batch,
    not per row: at one element per row it took about 15% of the pipeline's CPU time.
    """

    def __init__(self, file_path_prefix: str):
        super().__init__(file_path_prefix, coders.BytesCoder(), file_name_suffix=".tfrecord", num_shards=0,
                         shard_name_template=None, compression_type=CompressionTypes.AUTO, triggering_frequency=None)

    def write_record(self, file_handle, records):
        for record in records:
            self.write_encoded_record(file_handle, record)


class LogProgress(beam.DoFn):
    """Passes record batches through, logging the running row count every 100k rows."""

    EVERY = 100_000

    def __init__(self, label: str):
        self.label = label
        self.rows = 0

    def process(self, record_batch):
        before, self.rows = self.rows, self.rows + record_batch.num_rows
        if before // self.EVERY != self.rows // self.EVERY:
            _LOG.info("%s: %d rows read", self.label, self.rows)
        yield record_batch
