"""Entry points: the `uapi` command and pipeline construction."""
