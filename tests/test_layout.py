"""The rooms and their one-way imports: pipeline -> serving -> trainer -> transform, experiments apart."""
import ast
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOMS = ("transform", "trainer", "serving", "pipeline")  # bottom to top: a room imports only rooms below it
EXPERIMENTS = "trainer.experiments"
DEPRECATED_ALIASES = ("serving/tfx_module.py", "serving/task.py")  # old entry-point paths, kept one release


def _modules() -> dict[str, str]:
    """Dotted module name -> file path, for every module of the four rooms."""
    modules = {}
    for room in ROOMS:
        for root, _, names in os.walk(os.path.join(REPO, room)):
            for name in names:
                if name.endswith(".py"):
                    path = os.path.join(root, name)
                    dotted = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
                    modules[dotted.removesuffix(".__init__")] = path
    return modules


def _imported(path: str) -> set[str]:
    """Every module `path` imports from the four rooms (absolute imports, as the package writes them)."""
    with open(path) as handle:
        tree = ast.parse(handle.read())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return {name for name in names if name.split(".")[0] in ROOMS}


MODULES = _modules()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_no_room_above_its_own(module):
    own = ROOMS.index(module.split(".")[0])
    upward = sorted(name for name in _imported(MODULES[module]) if ROOMS.index(name.split(".")[0]) > own)
    assert not upward, f"{module} imports {upward} from a room above {module.split('.')[0]}"


def test_the_production_path_does_not_import_the_experiments():
    production = [name for name in MODULES if name.startswith(("transform", "trainer", "serving"))
                  and not name.startswith(EXPERIMENTS)]
    offenders = {name: sorted(imported for imported in _imported(MODULES[name]) if imported.startswith(EXPERIMENTS))
                 for name in production}
    assert not {name: found for name, found in offenders.items() if found}


def test_the_layout_has_its_rooms_and_entry_points():
    for path in ("transform/preprocessing.py", "trainer/tfx_module.py", "trainer/task.py", "pipeline/cli.py",
                 "pipeline/end_to_end.py", "trainer/export/export.py", "serving/reweight.py", "serving/recalibrate.py",
                 *DEPRECATED_ALIASES):
        assert os.path.exists(os.path.join(REPO, path)), path
    assert len(MODULES) > 50
