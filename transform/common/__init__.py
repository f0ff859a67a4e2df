"""Helpers every room uses: atomic file writing, configuration building, logging, provenance."""
