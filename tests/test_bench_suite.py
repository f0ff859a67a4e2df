"""bench/suite.py: the summary table built from benches' JSON, goals, the commit that measured each
figure, the table's block in docs/benchmarks.md, bad files; bench/record.py: what each JSON opens with."""
import datetime
import importlib.util
import json
import os
import subprocess
import sys

import pytest

from transform.common.provenance import provenance

BENCH_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")
DOCS_HEAD = "# Benchmarks\n\nIntro, kept byte for byte.\n\n<!-- bench-summary:start -->\n"
DOCS_TAIL = "<!-- bench-summary:end -->\n\ntrailing text\n"
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
                "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}


@pytest.fixture(scope="module")
def load_bench():
    """Loads bench/<name>.py by path (bench/ is not a package; its sibling modules import by name)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(BENCH_DIR)

        def load(name: str):
            spec = importlib.util.spec_from_file_location(f"bench_{name}", os.path.join(BENCH_DIR, f"{name}.py"))
            module = importlib.util.module_from_spec(spec)
            patch.setitem(sys.modules, spec.name, module)   # dataclasses resolve annotations through it
            spec.loader.exec_module(module)
            return module

        yield load


@pytest.fixture(scope="module")
def suite(load_bench):
    return load_bench("suite")


def git(repo, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True,
                          env={**os.environ, **GIT_IDENTITY}).stdout.strip()


def commit_file(repo, text: str) -> str:
    """Commits code.py holding `text` in `repo`; returns the new HEAD."""
    with open(os.path.join(repo, "code.py"), "w") as handle:
        handle.write(text)
    git(repo, "add", "code.py")
    git(repo, "commit", "--quiet", "-m", f"code.py: {text.strip()}")
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """A git repository of two commits: {"repo", "older", "head"}."""
    repo = str(tmp_path_factory.mktemp("checkout"))
    git(repo, "init", "--quiet")
    older = commit_file(repo, "VERSION = 1\n")
    return {"repo": repo, "older": older, "head": commit_file(repo, "VERSION = 2\n")}


def write(directory, name, payload):
    with open(os.path.join(directory, f"{name}.json"), "w") as handle:
        handle.write(payload if isinstance(payload, str) else json.dumps(payload))


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory, checkout):
    """Results shaped as the benches write them: current transform, serving and end-to-end JSON
    (one end-to-end stage without its peak memory), a training JSON of the older schema (no plain
    Adam, no scaling) and a truncated calibration JSON. Measured at: transform and seed spread
    at `checkout`'s HEAD on a clean tree, training at its older commit, serving at HEAD on a
    dirty tree, end-to-end by a JSON that records no commit."""
    head, older = checkout["head"], checkout["older"]
    directory = str(tmp_path_factory.mktemp("results"))
    write(directory, "transform_throughput", {
        "command": "python bench/transform_throughput.py --sizes 100000 1000000",
        "package_version": "0.2.0", "commit": head, "dirty": False,
        "results": {"in_memory": {"100000": {"seconds": 12.5, "rows_per_s": 8000},
                                  "1000000": {"seconds": 40.0, "rows_per_s": 25000}}},
        "scaling": {"in_memory": [{"rows": 100000, "seconds": 12.5, "time_ratio_per_size_ratio": 1.0},
                                  {"rows": 1000000, "seconds": 40.0, "time_ratio_per_size_ratio": 0.32}]},
        "goal": {"rows_per_s_at_1m": 20000, "time_ratio_per_size_ratio": 1.0},
    })
    write(directory, "train_throughput", {
        "command": "python bench/train_throughput.py",
        "package_version": "0.2.0", "commit": older, "dirty": False,
        "examples_per_s": {"pipeline": 90000, "in_memory": 120000},
        "ratio_pipeline_to_in_memory": 0.75, "goal_ratio": 0.9,
    })
    write(directory, "serving_latency", {
        "command": "python bench/serving_latency.py --run-dir runs/bench --requests 3000",
        "package_version": "0.2.0", "commit": head, "dirty": True,
        "candidates_per_request": 500,
        "serving_default_ms": {"p50": 2.0, "p99": 16.0, "mean": 2.2},
        "bare_keras_ms": {"p50": 1.6, "p99": 10.0, "mean": 1.7},
        "ratio": {"p50": 1.25, "p99": 1.6, "mean": 1.29},
        "goal": {"serving_default_p99_ms": 15.0, "ratio": 1.5},
    })
    write(directory, "end_to_end", {
        "command": "python bench/end_to_end.py --output runs/bench", "package_version": "0.1.0",
        "rows": {"train": 3000000}, "hparams": {"epochs": 3}, "seconds": {"transform": 160.0, "total": 420.0},
        "peak_memory": {"transform": {"peak_rss_mb": 2048.4}, "evaluate": {"seconds": 3.0}},
        "saved_model": {"bytes": 3264363, "mb": 3.11}, "disk_mb": {"run_dir": 812.4},
        "tasks": {"click": {"auc": 0.80, "true_auc": 0.82, "auc_fraction_of_true": 0.80 / 0.82},
                  "hide": {"auc": 0.70, "true_auc": 0.80, "auc_fraction_of_true": 0.70 / 0.80}},
        "calibration_by_pin_type": {"min_cell_positives": 500, "ratio_after_range": [0.96, 1.04]},
        "feed_quality": {"k": 5, "fraction_of_oracle": 5.9 / 6.0, "gain_over_random_fraction_of_oracle": 0.975},
    })
    write(directory, "seed_spread", {
        "command": "python bench/seed_spread.py --run-dir runs/bench",
        "package_version": "0.2.0", "commit": head, "dirty": False,
        "tasks": {"hide": {"values": [0.975, 0.960, 0.968], "mean": 0.9677, "std": 0.0075,
                           "min": 0.960, "max": 0.975, "seeds_meeting_goal": 1}},
    })
    write(directory, "calibration", '{"command": "python bench/calibration.py", "runs": {')
    return directory


@pytest.fixture(scope="module")
def summary(suite, results_dir, checkout):
    return suite.collect(results_dir, repo=checkout["repo"])


def row(summary, figure):
    matches = [entry for entry in summary["rows"] if entry["figure"] == figure]
    assert len(matches) == 1, [entry["figure"] for entry in summary["rows"]]
    return matches[0]


def test_rows_carry_values_goals_and_the_measuring_command(summary):
    at_1m = row(summary, "transform rows/s, 1M rows, in memory")
    assert (at_1m["value"], at_1m["display"], at_1m["met"]) == (25000, "25,000", True)
    assert at_1m["goal"] == {"min": 20000, "max": None}
    assert at_1m["command"] == "python bench/transform_throughput.py --sizes 100000 1000000"
    small = row(summary, "transform rows/s, 100k rows, in memory")
    assert (small["value"], small["goal"], small["met"]) == (8000, None, None)
    growth = row(summary, "transform time growth, 1M vs 100k rows, in memory: time ratio / size ratio")
    assert (growth["value"], growth["met"], growth["display"]) == (0.32, True, "0.320 (40.0 s vs 12.5 s)")
    assert row(summary, "training examples/s, pipeline / in memory")["met"] is False   # 0.75 < 0.9
    p99 = row(summary, "serving p99, 500 candidates")
    assert (p99["display"], p99["met"]) == ("16.00 ms (bare model 10.00 ms)", False)   # 16 > 15
    assert row(summary, "serving p50 / bare model, 500 candidates")["met"] is True      # 1.25 <= 1.5
    assert row(summary, "serving p99 / bare model, 500 candidates")["met"] is False     # 1.6 > 1.5
    assert row(summary, "SavedModel size")["display"] == "3.1 MB"
    assert row(summary, "disk, end-to-end run directory")["display"] == "812 MB"
    assert row(summary, "peak memory (RSS), end-to-end stage transform")["display"] == "2,048 MB"


def test_quality_rows_against_the_release_goals(summary):
    click, hide = (row(summary, f"AUC / true-probability AUC, {task}") for task in ("click", "hide"))
    assert click["display"] == "0.976 (0.8000 / 0.8200)" and click["met"] is True     # 0.80 / 0.82 = 0.9756
    assert hide["display"] == "0.875 (0.7000 / 0.8000)" and hide["met"] is False      # 0.875 < 0.97
    calibration = row(summary, "calibration ratio range over task x pin_type (end-to-end eval split)")
    assert calibration["display"] == "0.960 - 1.040 (cells with >= 500 positives)" and calibration["met"] is True
    seeds = row(summary, "AUC / true-probability AUC over seeds, hide")
    assert seeds["display"] == "0.9677 (mean of 3 seeds, 0.960 - 0.975; 1 of 3 at or above the goal)"
    assert seeds["met"] is False   # the mean, 0.9677, is under 0.97 although one seed is above it
    top_k = row(summary, "expected top-k utility / oracle's")
    assert top_k["value"] == pytest.approx(5.9 / 6.0) and top_k["met"] is True
    assert top_k["display"] == "0.983 (k=5; 0.975 of the oracle's gain over random order)"


def test_stale_and_malformed_files_are_not_measured_and_named(suite, summary, results_dir):
    plain_adam = row(summary, "training speed, default setup / plain Adam")
    assert (plain_adam["value"], plain_adam["display"], plain_adam["met"]) == (None, "not measured", None)
    assert row(summary, "training time growth with rows")["display"] == "not measured"
    calibration = row(summary, "calibration ratio range over task x pin_type (calibration bench)")
    assert calibration["display"] == "not measured"
    assert summary["benches"]["train_throughput"]["status"] == "incomplete"
    assert summary["benches"]["calibration"]["status"] == "malformed"
    assert summary["benches"]["census"]["status"] == "missing"
    problems = {}
    for entry in summary["not_measured"]:
        problems.setdefault(entry["bench"], []).append(entry["problem"])
    assert [problem.split("(")[0].rsplit("/", 1)[-1] for problem in problems["train_throughput"]] == [
        "train_throughput.json has no field 'examples_per_s.plain_adam' ",
        "train_throughput.json has no field 'ratio_default_to_plain_adam' ",
        "train_throughput.json has no field 'scaling' ",
    ]
    assert "calibration.json is not valid JSON" in problems["calibration"][0]
    assert row(summary, "peak memory (RSS), end-to-end stage evaluate")["display"] == "not measured"
    assert problems["end_to_end"][0].endswith(
        "end_to_end.json holds 'peak memory (RSS), end-to-end stage evaluate' in another shape (KeyError: "
        "'peak_rss_mb') (written by an older bench/end_to_end.py: "
        "rerun `python bench/end_to_end.py --output runs/bench`)")
    assert "census" not in problems   # benches without table rows are listed in "benches" only
    with pytest.raises(ValueError, match=r"calibration\.json is not valid JSON"):
        suite.load_result(os.path.join(results_dir, "calibration.json"))
    assert set(suite.failures(summary, ran=["train_throughput", "serving_latency"])) == {"train_throughput"}


def test_each_figure_says_which_commit_measured_it(summary, checkout):
    head, older = checkout["head"], checkout["older"]
    assert summary["checkout"] == {"commit": head, "dirty": False}
    expected = {
        "transform rows/s, 1M rows, in memory": {"commit": head, "dirty": False, "marks": []},
        "AUC / true-probability AUC over seeds, hide": {"commit": head, "dirty": False, "marks": []},
        "training examples/s, input pipeline": {"commit": older, "dirty": False, "marks": ["other code"]},
        "serving p99, 500 candidates": {"commit": head, "dirty": True, "marks": ["dirty"]},
        "SavedModel size": {"commit": None, "dirty": None, "marks": ["no commit"]},
    }
    assert {figure: row(summary, figure)["measured_at"] for figure in expected} == expected
    assert row(summary, "training speed, default setup / plain Adam")["measured_at"] is None   # not measured
    assert summary["benches"]["train_throughput"]["measured_at"] == expected["training examples/s, input pipeline"]
    assert summary["benches"]["census"]["measured_at"] is None   # no JSON


def test_figures_not_measured_at_a_clean_head_are_listed(summary, checkout):
    listed = {entry["bench"]: entry for entry in summary["not_current"]}
    assert set(listed) == {"train_throughput", "serving_latency", "end_to_end"}
    training = listed["train_throughput"]
    assert (training["commit"], training["dirty"], training["marks"]) == (checkout["older"], False, ["other code"])
    assert training["file"].endswith("train_throughput.json")
    assert training["figures"] == ["training examples/s, input pipeline", "training examples/s, tensors in memory",
                                   "training examples/s, pipeline / in memory"]   # the measured ones only
    assert (listed["serving_latency"]["marks"], len(listed["serving_latency"]["figures"])) == (["dirty"], 4)
    end_to_end = listed["end_to_end"]
    assert (end_to_end["commit"], end_to_end["marks"]) == (None, ["no commit"])
    assert "SavedModel size" in end_to_end["figures"]
    assert "peak memory (RSS), end-to-end stage evaluate" not in end_to_end["figures"]


def test_table_marks_figures_and_explains_the_marks(suite, summary, checkout):
    table = suite.markdown(summary)
    head, older = checkout["head"][:7], checkout["older"][:7]
    assert table.startswith("| figure | value | goal | met? | measured at | measured by |\n")
    assert (f"| transform rows/s, 1M rows, in memory | 25,000 | >= 20000 | yes | `{head}` | "
            "`python bench/transform_throughput.py --sizes 100000 1000000` |") in table
    assert (f"| training examples/s, input pipeline | 90,000 | - | - | `{older}` **other code** | "
            "`python bench/train_throughput.py` |") in table
    assert (f"| serving p99, 500 candidates | 16.00 ms (bare model 10.00 ms) | <= 15 | no | `{head}` **dirty** | "
            "`python bench/serving_latency.py --run-dir runs/bench --requests 3000` |") in table
    assert ("| SavedModel size | 3.1 MB | - | - | **no commit** | "
            "`python bench/end_to_end.py --output runs/bench` |") in table
    assert "| training speed, default setup / plain Adam | not measured | - | - | - |" in table
    note = table.split("\n\nMeasured at: ")[1].split("\n\nNot measured:")[0]
    assert f"the checkout's HEAD was `{head}` when this table was written" in note
    marks_explained = [line.split(":")[0] for line in note.splitlines()[1:]]
    assert marks_explained == ["- **other code**", "- **dirty**", "- **no commit**"]


def test_a_new_commit_marks_every_figure_measured_before_it(suite, results_dir, checkout, tmp_path):
    clone = str(tmp_path / "clone")
    git(tmp_path, "clone", "--quiet", checkout["repo"], clone)
    new_head = commit_file(clone, "VERSION = 3\n")
    summary = suite.collect(results_dir, repo=clone)
    assert summary["checkout"] == {"commit": new_head, "dirty": False}
    assert row(summary, "transform rows/s, 1M rows, in memory")["measured_at"]["marks"] == ["other code"]
    assert row(summary, "serving p99, 500 candidates")["measured_at"]["marks"] == ["other code", "dirty"]
    assert [entry["bench"] for entry in summary["not_current"]] == [
        "transform_throughput", "train_throughput", "serving_latency", "end_to_end", "seed_spread"]


def test_outside_a_git_checkout_no_figure_is_current(suite, results_dir, tmp_path):
    summary = suite.collect(results_dir, repo=str(tmp_path))
    assert summary["checkout"] == {"commit": None, "dirty": None}
    assert row(summary, "transform rows/s, 1M rows, in memory")["measured_at"]["marks"] == ["other code"]
    assert "written outside a git checkout, so no figure could be shown as current" in suite.markdown(summary)


def test_summary_files_and_the_docs_block(suite, summary, tmp_path):
    docs = tmp_path / "benchmarks.md"
    docs.write_bytes((DOCS_HEAD + "old table\n" + DOCS_TAIL).encode())
    suite.write_summary(summary, str(tmp_path), str(docs))
    table = (tmp_path / "summary.md").read_text()
    assert table == suite.markdown(summary)
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["schema_version"] == 2
    assert (written["rows"], written["not_current"]) == (summary["rows"], summary["not_current"])
    assert docs.read_text() == DOCS_HEAD + table + DOCS_TAIL


def test_the_docs_page_holds_the_block_once(suite):
    assert suite.DOCS_TABLE == os.path.join(os.path.dirname(BENCH_DIR), "docs", "benchmarks.md")
    with open(suite.DOCS_TABLE) as handle:
        text = handle.read()
    assert suite.replace_block(text, "| new table |\n", "docs/benchmarks.md").count("| new table |") == 1


def test_a_docs_page_without_the_block_is_an_error_naming_it(suite, summary, tmp_path):
    docs = tmp_path / "docs" / "benchmarks.md"
    docs.parent.mkdir()
    docs.write_text("# Benchmarks\n\n<!-- bench-summary:end -->\n")
    with pytest.raises(ValueError, match=r"docs/benchmarks\.md must hold <!-- bench-summary:start --> and then"):
        suite.write_summary(summary, str(tmp_path), str(docs))
    assert json.loads((tmp_path / "summary.json").read_text())["rows"] == summary["rows"]   # written all the same
    docs.unlink()
    with pytest.raises(ValueError, match=r"docs/benchmarks\.md is missing: it must hold <!-- bench-summary:start"):
        suite.write_summary(summary, str(tmp_path), str(docs))


def test_a_bench_records_its_command_as_run_from_the_repository_root(load_bench, monkeypatch):
    record = load_bench("record")
    monkeypatch.setattr(sys, "argv", [os.path.join(BENCH_DIR, "census.py"), "--data-root", "/data/census income"])
    assert record.bench_command() == "python bench/census.py --data-root '/data/census income'"
    entry = record.run_record(os.getloadavg())
    assert entry["command"] == record.bench_command()
    assert {key: entry[key] for key in provenance()} == provenance()
    assert entry["machine"]["cpus"] == os.cpu_count()
    assert set(entry["machine"]) == {"cpus", "platform", "load_average_start", "load_average_end", "busy"}
    finished = datetime.datetime.fromisoformat(entry["finished_at"])
    assert abs((datetime.datetime.now(datetime.timezone.utc) - finished).total_seconds()) < 60


def test_a_commit_of_docs_and_results_only_keeps_the_figures_current(suite, results_dir, checkout, tmp_path):
    clone = tmp_path / "docs_only"
    git(tmp_path, "clone", "--quiet", checkout["repo"], str(clone))
    (clone / "docs").mkdir()
    (clone / "docs" / "benchmarks.md").write_text("figures\n")
    (clone / "README.md").write_text("a guide\n")
    git(clone, "add", "docs", "README.md")
    git(clone, "commit", "--quiet", "-m", "docs only")
    summary = suite.collect(results_dir, repo=str(clone))
    assert row(summary, "transform rows/s, 1M rows, in memory")["measured_at"]["marks"] == []
    assert row(summary, "training examples/s, input pipeline")["measured_at"]["marks"] == ["other code"]
