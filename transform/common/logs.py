"""Progress logging for command-line entry points and benchmarks, and a quiet TensorFlow start."""
import contextlib
import logging
import os
import sys

from absl import logging as absl_logging

QUIET_LOGGERS = ("apache_beam", "tensorflow", "absl", "tfx_bsl", "matplotlib")


def configure_logging() -> None:
    """INFO lines with a timestamp on stderr; the libraries' own chatter at WARNING.

    Libraries imported before this call put handlers on the root logger (TensorFlow's absl
    handler, a WARNING-level one from TFMA), which would swallow the stage and progress
    lines: the absl handler is removed, the root level set to INFO, and a stderr handler added
    unless one already takes INFO records (a caller's, a test runner's).
    """
    root = logging.getLogger()
    root.removeHandler(absl_logging.get_absl_handler())
    root.setLevel(logging.INFO)
    if not any(handler.level <= logging.INFO for handler in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
        root.addHandler(handler)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def import_tensorflow_quietly(verbose: bool = False) -> None:
    """Imports TensorFlow and probes its devices with its C++ start-up lines kept off stderr.

    Those lines (oneDNN notices, CUDA probing on a machine without a GPU) come from native code
    before any log level applies, so stderr's file descriptor is pointed at /dev/null meanwhile;
    TF_CPP_MIN_LOG_LEVEL=2 (unless already set) keeps TensorFlow's later INFO and WARNING lines
    off too. With `verbose`, TensorFlow prints as it would.
    """
    if verbose:
        import tensorflow  # noqa: F401
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _stderr_to_devnull():
        import tensorflow as tf

        tf.config.list_physical_devices()


@contextlib.contextmanager
def _stderr_to_devnull():
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
