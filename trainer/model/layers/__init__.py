"""Serializable Keras layers of the multi-task architectures, one per file."""
