"""Raw data side of the package: the feature/task declaration, the simulator and tf.Transform."""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
