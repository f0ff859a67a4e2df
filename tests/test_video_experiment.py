"""The video experiment's check that video_watch carries value the other actions miss."""
import os

import tensorflow as tf

from tests.helpers import SMALL_WORLD_SETTINGS
from trainer.evaluation.raw_columns import feature_columns_spec, read_raw_columns
from trainer.experiments.video_experiment import video_value
from transform.simulator.config import SimulatorConfig
from transform.spec import packaged_spec
from transform.splits import EVAL_SPLIT, split_pattern

SPEC = packaged_spec()


def test_video_watch_value_is_what_the_other_actions_miss(small_run):
    """On video pins, watchability drives true video_watch and barely any other action."""
    sessions_pattern = split_pattern(os.path.join(small_run["dir"], "data"), EVAL_SPLIT)
    columns = read_raw_columns(sessions_pattern, feature_columns_spec(SPEC, ["pin_type", "pin_id", "user_id"]))
    truth = read_raw_columns(sessions_pattern, {
        task.truth: tf.io.FixedLenFeature([], tf.float32) for task in SPEC.tasks})
    value = video_value(SPEC, SimulatorConfig(**SMALL_WORLD_SETTINGS), columns,
                        {task.name: truth[task.truth] for task in SPEC.tasks})
    correlation = value["correlation"]["watchability"]
    assert correlation["video_watch"] > 0.7
    assert all(abs(correlation[name]) < 0.2 for name in SPEC.task_names if name != "video_watch")
    assert value["r2_from_latents"] > 0.8 > 0.4 > value["r2_from_other_true_logits"]
