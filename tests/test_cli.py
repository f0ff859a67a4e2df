"""The command line: help without TensorFlow, help text on every flag, the version, the resolved config."""
import os
import subprocess
import sys

import pytest
import yaml

from pipeline import cli
from pipeline.commands import resolve_config
from trainer.config import load_run_config
from transform.version import __version__

COMMANDS = sorted(cli.HELP)
FEEDRANK = os.path.join(os.path.dirname(sys.executable), "feedrank")


def _subcommands(parser):
    action = next(action for action in parser._actions if action.dest == "command")
    return action.choices


def test_building_the_parser_imports_no_tensorflow():
    code = ("import sys; from pipeline import cli; cli.build_parser().format_help(); "
            "print(sorted(name for name in ('tensorflow', 'apache_beam', 'keras_tuner') if name in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("command", [[], *([name] for name in COMMANDS)])
def test_help_prints_usage_and_nothing_on_stderr(command):
    result = subprocess.run([FEEDRANK, *command, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: feedrank") and result.stderr == ""


def test_every_flag_of_every_command_has_help_text():
    for name, command in _subcommands(cli.build_parser()).items():
        for action in command._actions:
            assert action.help and action.help.strip(), f"{name}: {action.option_strings}"


def test_beam_commands_say_that_unknown_flags_go_to_beam():
    commands = _subcommands(cli.build_parser())
    for name in cli.BEAM_COMMANDS:
        assert "passed to Apache Beam" in commands[name].format_help()
    with pytest.raises(SystemExit):
        cli.main(["train", "--transform", "t", "--model-dir", "m", "--runner=DataflowRunner"])


def test_version():
    result = subprocess.run([FEEDRANK, "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == f"feedrank {__version__}"


def test_config_prints_the_resolved_tree_that_a_run_would_use(tmp_path, capsys):
    argv = ["config", "--train-rows", "3000", "--epochs", "4", "--oracle", "random", "--checkpoint-every-steps", "7"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    path = tmp_path / "printed.yaml"
    path.write_text(printed)
    resolved = resolve_config(cli.build_parser().parse_args(argv))
    assert load_run_config(str(path)) == resolved
    tree = yaml.safe_load(printed)
    assert (tree["simulator"]["train_rows"], tree["hparams"]["epochs"]) == (3000, 4)
    assert (tree["search"]["oracle"], tree["job"]["checkpoint_every_steps"]) == ("random", 7)


def test_a_bad_flag_or_config_exits_2_naming_it(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["config", "--spec", "census", "--data-root", str(tmp_path), "--n-users", "10"])
    assert exit_info.value.code == 2
    assert "--n-users: spec 'census' reads its rows from files" in capsys.readouterr().err
    (tmp_path / "run.yaml").write_text("hparams: {dropout: high}\n")
    with pytest.raises(SystemExit):
        cli.main(["config", "--config", str(tmp_path / "run.yaml")])
    assert "run.yaml: hparams.dropout: expected a number, got 'high'" in capsys.readouterr().err


def test_running_a_command_imports_neither_tfx_nor_tfdv():
    """TFDV, which tfx imports, registers a Beam coder that Beam's worker processes cannot load."""
    code = ("import sys; from pipeline import commands; "
            "print(sorted(name for name in ('tfx', 'tensorflow_data_validation') if name in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"
