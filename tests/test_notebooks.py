"""The four notebooks run top to bottom without error, in order, in a temporary working directory.

They share the sample run (`pipeline.sample_run`): notebook 2 builds it, 3 and 4 reuse it. The
kernel is this interpreter (jupyter_client starts a `python` kernelspec with sys.executable).
"""
import os

import nbformat
import pytest
from nbclient import NotebookClient

from pipeline.sample_run import NOTEBOOK_DIR_ENV

pytestmark = pytest.mark.e2e  # runs the real pipeline: `make test` runs it, `make test-fast` does not

NOTEBOOKS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "notebooks")
NOTEBOOKS = ("01_data_and_transform", "02_training", "03_calibration", "04_utility_and_serving")


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("notebooks")
    previous = os.environ.get(NOTEBOOK_DIR_ENV)
    os.environ[NOTEBOOK_DIR_ENV] = str(path / "runs")
    yield path
    if previous is None:
        del os.environ[NOTEBOOK_DIR_ENV]
    else:
        os.environ[NOTEBOOK_DIR_ENV] = previous


def test_notebooks_are_stored_without_outputs_and_define_nothing():
    for name in NOTEBOOKS:
        notebook = nbformat.read(os.path.join(NOTEBOOKS_DIR, f"{name}.ipynb"), as_version=4)
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert code, name
        assert all(not cell.outputs and cell.execution_count is None for cell in code), name
        assert not any(line.lstrip().startswith(("def ", "class ", "lambda")) for cell in code
                       for line in cell.source.splitlines()), name


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_without_error(work_dir, name):
    notebook = nbformat.read(os.path.join(NOTEBOOKS_DIR, f"{name}.ipynb"), as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(work_dir)}})
    client.execute()  # raises CellExecutionError naming the cell and the exception on any error
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    assert any(output.output_type in ("execute_result", "display_data") for output in outputs)
    assert os.listdir(work_dir / "runs")
