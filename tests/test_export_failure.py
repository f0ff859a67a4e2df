"""A failed export leaves the served model as it was: the previous version, and nothing half-written.

`export_model` writes a version into a hidden temporary directory beside it and renames it
into place once complete; on an exception (or an interrupt) the temporary directory is
removed. A process killed mid-write cannot clean up: its `.<version>.tmp-*` directory stays,
but TF Serving takes a child of the model base path as a version only when its whole name is
a number, and `serving.derive` does the same, so it is never served nor counted.
"""
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from tests.test_serving import _file_hashes
from trainer.export import export as export_module
from trainer.export.export import export_model
from trainer.export.signatures import SERVING_DEFAULT
from trainer.export.versions import latest_version_dir, list_versions
from trainer.export.warmup import request_rows
from trainer.model.scoring import UTILITY
from trainer.training.train import load_trained
from transform.spec import packaged_spec
from transform.splits import split_patterns

pytestmark = pytest.mark.e2e  # runs the real pipeline: `make test` runs it, `make test-fast` does not

SPEC = packaged_spec()
# (step of the write that fails, what it raises): after the SavedModel and the warmup requests
# are written, and after the SavedModel only.
FAILURES = (("write_card", RuntimeError("disk full")), ("write_warmup_requests", KeyboardInterrupt()))


@pytest.fixture(scope="module")
def failed_exports(small_run, tmp_path_factory):
    """An export dir holding a copy of the run's version, after one failed export per FAILURES entry."""
    export_dir = str(tmp_path_factory.mktemp("failed_export") / "export")
    previous = os.path.join(export_dir, os.path.basename(small_run["export_dir"]))
    shutil.copytree(small_run["export_dir"], previous)
    before = _file_hashes(previous)
    trained = load_trained(os.path.join(small_run["dir"], "model"))
    data_dir = os.path.join(small_run["dir"], "data")
    warmup = request_rows(split_patterns(data_dir)["eval"], [feature.name for feature in SPEC.features], 16)
    raised = []
    for step, error in FAILURES:
        real_step = getattr(export_module, step)

        def failing_step(*args, _real_step=real_step, _error=error, **kwargs):
            _real_step(*args, **kwargs)
            raise _error

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(export_module, step, failing_step)
            with pytest.raises(type(error)) as caught:
                export_model(SPEC, os.path.join(small_run["dir"], "transform"), trained.scoring_model, export_dir,
                             warmup)
        raised.append(caught.value)
    return {"dir": export_dir, "previous": previous, "before": before, "raised": raised, "data_dir": data_dir}


def test_failed_exports_leave_only_the_previous_version_unchanged(failed_exports):
    assert [type(error) for error in failed_exports["raised"]] == [type(error) for _, error in FAILURES]
    assert os.listdir(failed_exports["dir"]) == [os.path.basename(failed_exports["previous"])]
    assert _file_hashes(failed_exports["previous"]) == failed_exports["before"]
    assert latest_version_dir(failed_exports["dir"]) == failed_exports["previous"]


def test_previous_version_still_serves(failed_exports):
    """Its files are bit for bit those of the run's export (which test_end_to_end serves in a fresh process)."""
    rows = request_rows(split_patterns(failed_exports["data_dir"])["eval"],
                        [feature.name for feature in SPEC.features], 50)
    outputs = tf.saved_model.load(failed_exports["previous"]).signatures[SERVING_DEFAULT](examples=tf.constant(rows))
    assert set(outputs) == {*SPEC.task_names, UTILITY}
    assert all(value.shape == (len(rows),) and np.isfinite(value.numpy()).all() for value in outputs.values())


def test_a_killed_exports_temporary_directory_is_never_a_version(failed_exports, tmp_path):
    export_dir = str(tmp_path / "export")
    shutil.copytree(failed_exports["previous"], os.path.join(export_dir, "1700000000"))
    shutil.copytree(failed_exports["previous"], os.path.join(export_dir, ".1700000001.tmp-0badc0de"))
    assert list_versions(export_dir) == [1700000000]
    assert latest_version_dir(export_dir) == os.path.join(export_dir, "1700000000")
