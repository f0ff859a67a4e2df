"""Old path of the TFX module file, kept for one release: use `trainer/tfx_module.py`.

Pipelines written against 0.1 name `serving/tfx_module.py` as the module_file of Transform,
Tuner and Trainer; it still works, and warns once where it is imported.
"""
import warnings

from trainer.tfx_module import preprocessing_fn, run_fn, tuner_fn

__all__ = ["preprocessing_fn", "run_fn", "tuner_fn"]

warnings.warn("serving.tfx_module moved to trainer.tfx_module (module_file=.../trainer/tfx_module.py); "
              "the old path goes in the next release", FutureWarning, stacklevel=2)
