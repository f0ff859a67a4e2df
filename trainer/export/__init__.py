"""The serving model: one versioned SavedModel with its signatures, warmup requests and model card."""
