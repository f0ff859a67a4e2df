"""What drives it all: the `feedrank` command line, the end-to-end job, and the TFX pipeline as code."""
import transform  # noqa: F401  (Keras 2 before TensorFlow: see transform/__init__.py)
