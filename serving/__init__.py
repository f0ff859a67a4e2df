"""What happens to an export after it is written: TF Serving config, clients, new versions, what-if."""
import transform  # noqa: F401  (Keras 2 before TensorFlow: see transform/__init__.py)
