"""The video experiment's default world and training: smaller than a run's, so it takes minutes.

Kept free of TensorFlow, so that the command line shows these defaults without loading it.
"""
from trainer.hparams import HParams
from transform.simulator.config import SimulatorConfig

EXPERIMENT_WORLD = SimulatorConfig(train_rows=1_000_000, eval_rows=200_000, calibration_rows=200_000)
EXPERIMENT_HPARAMS = HParams(epochs=2)
