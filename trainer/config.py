"""A run's whole configuration as one typed tree: what made a run, saved beside it and in its export.

    RunConfig
      spec       Spec             the data config: features, tasks and their utility weights,
                                  where the rows are and which split each joins
                                                                     transform/spec.py, source.py
      simulator  SimulatorConfig  the simulated world; only when spec.input is the simulator
                                                                     transform/simulator/config.py
      hparams    HParams          the model and its training        trainer/hparams.py
      job        JobOptions       how training runs: checkpoints, TensorBoard, memory
                                                                     trainer/training/job_options.py
      search     SearchConfig     what `feedrank tune` searches and how: the search space file,
                                  oracle, objective, trials          trainer/tuning/search_config.py
      beam_args  [str]            Beam pipeline options of ingest and transform

Each part is a `transform.common.config.Config`: checked the same way (types, ranges, unknown
keys with the closest known one suggested), whether built in code, from flags or from a file;
`RunConfig.validate` checks how the parts relate. The search space file that `search` names
(`trainer/tuning/search_space.py`) lists HParams fields and the spec's tasks, and checks every
value it may draw as an HParams.

A run config file (YAML or JSON) has the same sections, each optional:

    spec: census                  # a packaged name, a path (relative to this file), or the spec itself
    data_root: /data/census       # where the spec's relative input paths resolve
    simulator: {train_rows: 30000}
    hparams: {epochs: 5}          # or the path of an hparams file
    job: {checkpoint_every_steps: 200}
    search: {oracle: hyperband, max_trials: 20}
    beam_args: [--direct_num_workers=2]

A run's `run_config.json` holds its resolved tree under `config` (beside the code's provenance)
and is itself a run config file: `feedrank run --config runs/x/run_config.json` repeats the run.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Optional

from trainer.hparams import HParams, hparams_from_dict
from trainer.training.job_options import JobOptions
from trainer.tuning.search_config import SearchConfig
from transform.common.config import Config, ConfigError, build, check_keys, read_config_file
from transform.simulator.config import SimulatorConfig
from transform.spec import Spec, load_spec, spec_from_dict

SAVED_CONFIG_KEY = "config"  # where a saved run_config.json holds the tree


@dataclasses.dataclass(frozen=True)
class RunConfig(Config):
    """Everything a run is made of, resolved (see the module docstring for the tree)."""

    spec: Spec
    simulator: Optional[SimulatorConfig] = None
    hparams: HParams = dataclasses.field(default_factory=HParams)
    job: JobOptions = dataclasses.field(default_factory=JobOptions)
    search: SearchConfig = dataclasses.field(default_factory=SearchConfig)
    beam_args: tuple[str, ...] = ()

    @property
    def is_simulated(self) -> bool:
        return self.spec.input is not None and self.spec.input.format == "simulator"

    def validate(self) -> None:
        if self.simulator is not None and not self.is_simulated:
            raise ConfigError(f"applies only to a spec whose input is the simulator; spec {self.spec.name!r} reads "
                              f"{self.spec.input.format if self.spec.input else 'no input'}", field="simulator")
        unknown = sorted(set(self.hparams.loss_weights) - set(self.spec.task_names))
        if unknown:
            raise ConfigError(f"names {unknown}, which are not tasks of spec {self.spec.name!r} "
                              f"({list(self.spec.task_names)})", field="hparams.loss_weights")

    @classmethod
    def resolved(cls, spec: Spec, hparams: HParams | None = None, simulator: SimulatorConfig | None = None,
                 job: JobOptions | None = None, search: SearchConfig | None = None, beam_args=()) -> "RunConfig":
        """A RunConfig with every default filled in, the simulated world too when the spec is simulated."""
        simulated = spec.input is not None and spec.input.format == "simulator"
        return cls(spec=spec, simulator=(simulator or SimulatorConfig()) if simulated else None,
                   hparams=hparams or HParams(), job=job or JobOptions(), search=search or SearchConfig(),
                   beam_args=tuple(beam_args))


def load_run_config(path: str | None = None, spec: str | None = None, data_root: str | None = None,
                    hparams_file: str | None = None) -> RunConfig:
    """The run config file at `path` (none: every default), with the spec and hparams flags over it.

    `spec` / `data_root` (the `--spec` / `--data-root` flags) replace the file's; an
    `hparams_file` applies on top of the file's hparams. A saved `run_config.json` is read too.
    """
    raw = _sections(read_config_file(path), path) if path else {}
    where = path or "run config"
    base_dir = os.path.dirname(os.path.abspath(path)) if path else None
    root = data_root or _path(raw.get("data_root"), base_dir)
    resolved_spec = load_spec(spec, root) if spec else _spec(raw.get("spec"), root, base_dir, where)
    hparams = _hparams(raw.get("hparams"), base_dir, where)
    if hparams_file:
        hparams = hparams_from_dict(read_config_file(hparams_file), hparams, where=hparams_file)
    sections = {key: raw[key] for key in ("simulator", "job", "search", "beam_args") if raw.get(key) is not None}
    config = build(RunConfig, sections, where, spec=resolved_spec, hparams=hparams)
    return RunConfig.resolved(config.spec, config.hparams, config.simulator, config.job, config.search,
                              config.beam_args)


def saved_config(config: RunConfig) -> dict:
    """The tree as plain data, under the key a saved run_config.json holds it at."""
    return {SAVED_CONFIG_KEY: config.to_dict()}


_FILE_KEYS = ("spec", "data_root", "simulator", "hparams", "job", "search", "beam_args")


def _sections(raw: Any, path: str) -> dict:
    if isinstance(raw, dict) and SAVED_CONFIG_KEY in raw:
        raw = raw[SAVED_CONFIG_KEY]
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a run config is a mapping with some of {list(_FILE_KEYS)}, got {raw!r}")
    check_keys(raw, _FILE_KEYS, path)
    return raw


def _spec(value: Any, root: str | None, base_dir: str | None, where: str) -> Spec:
    if isinstance(value, dict):
        return spec_from_dict(value, source=f"{where}: spec", root=root)
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{where}: spec: expected a packaged name, a path or a mapping, got {value!r}")
    path = _path(value, base_dir)
    return load_spec(path if path and os.path.exists(path) else value, root)


def _hparams(value: Any, base_dir: str | None, where: str) -> HParams:
    if value is None:
        return HParams()
    if isinstance(value, str):
        path = _path(value, base_dir)
        return hparams_from_dict(read_config_file(path), where=path)
    return hparams_from_dict(value, where=f"{where}: hparams")


def _path(value: str | None, base_dir: str | None) -> str | None:
    if not value or base_dir is None or "://" in value or os.path.isabs(value):
        return value
    return os.path.join(base_dir, value)
