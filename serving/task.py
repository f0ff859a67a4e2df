"""Old path of the Vertex AI entry point, kept for one release: use `python -m trainer.task`."""
import sys
import warnings

from trainer.task import main

__all__ = ["main"]

warnings.warn("`python -m serving.task` moved to `python -m trainer.task`; the old path goes in the next release",
              FutureWarning, stacklevel=2)

if __name__ == "__main__":
    sys.exit(main())
