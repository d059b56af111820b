"""A local UtilityAPI v2 server for demos, tests and benchmarks."""
