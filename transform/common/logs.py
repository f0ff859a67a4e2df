"""Progress logging for command-line entry points and benchmarks."""
import logging
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
