"""The user's input: reading CSV and TFRecord files, checking them against the spec, ingesting them into splits."""
