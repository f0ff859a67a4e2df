"""The multi-task model: backbone (embeddings, cross layers, shared or expert layers, towers), ranker, scoring model."""
