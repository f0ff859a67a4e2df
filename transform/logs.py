"""Progress logging for command-line entry points and benchmarks."""
import logging
import sys

from absl import logging as absl_logging

QUIET_LOGGERS = ("apache_beam", "tensorflow", "absl", "tfx_bsl", "matplotlib")


def configure_logging() -> None:
    """INFO lines with a timestamp on stderr; the libraries' own chatter at WARNING.

    TensorFlow's absl logging puts its handler on the root logger at import, which would make
    `basicConfig` a no-op and swallow the stage and progress lines: it is removed first. Other
    handlers (a caller's, a test runner's) are left alone.
    """
    logging.getLogger().removeHandler(absl_logging.get_absl_handler())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
