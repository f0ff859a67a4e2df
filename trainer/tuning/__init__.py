"""Hyperparameter search: the search space, keras-tuner's tuner for the ranker, trials and objectives."""
