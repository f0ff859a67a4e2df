"""The package's version: one place, read by setup.py, `feedrank --version` and every output's provenance."""
__version__ = "0.2.0"
