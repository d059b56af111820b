"""Benchmarks of the UtilityAPI → DuckDB connector against the sandbox (see bench/README.md)."""
