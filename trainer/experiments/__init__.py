"""Studies that are not the production path: architecture comparison, add-objective, the video experiment."""
