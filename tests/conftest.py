"""Test setup: Keras 2 before TensorFlow loads, quiet TF logs, shared fixtures."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

import transform  # noqa: E402,F401  (Keras 2 before TensorFlow: see transform/__init__.py)
from pipeline.end_to_end import run_end_to_end  # noqa: E402
from tests.helpers import FAST_TRAINING_SETTINGS, SMALL_WORLD_SETTINGS  # noqa: E402
from trainer.config import RunConfig  # noqa: E402
from trainer.hparams import HParams  # noqa: E402
from transform.simulator.config import SimulatorConfig  # noqa: E402
from transform.spec import packaged_spec  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: runs the real pipeline (Beam, training, export, subprocesses); "
                                       "`make test-fast` leaves these out")


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    """The whole job on small simulated data, once per session: {"dir", "export_dir", "report"}.

    Tests may add versions beside the export (recalibration, reweighting) but never change it.
    """
    run_dir = str(tmp_path_factory.mktemp("small_run") / "run")
    config = RunConfig.resolved(packaged_spec(), HParams(**FAST_TRAINING_SETTINGS),
                                SimulatorConfig(**SMALL_WORLD_SETTINGS))
    result = run_end_to_end(config, run_dir)
    return {"dir": run_dir, **result}
