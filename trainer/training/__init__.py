"""Training: input pipelines, the training loop, schedule, checkpoints, distribution, progress and TensorBoard."""
