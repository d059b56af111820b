"""Entry points: the `uapi` command and pipeline construction."""

import os

# Arrow's C++ code (the Parquet writer dlt writes every package file with) allocates from the
# allocator Arrow chose when pyarrow was first imported: mimalloc unless this says otherwise,
# and mimalloc keeps what it freed in a 1 GiB reservation of its own (~80 MiB resident at the
# peak of a 10 M-reading backfill). Set before anything imports pyarrow, so that every
# allocation goes to glibc, whose freed memory `memory.tune_process` and
# `memory.release_free_memory` keep in check. A value the user set is kept.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
