"""The process that loads allocates Arrow's memory from glibc, Parquet writing included.

Arrow's C++ code (dlt writes every package file with Arrow's Parquet writer) takes its allocator
from `ARROW_DEFAULT_MEMORY_POOL` when pyarrow is first imported; mimalloc, the default, keeps what
it frees resident. Each check runs in a fresh interpreter, since the choice is made once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Import an entry point, then write a Parquet file the way dlt does and report which of Arrow's
# allocators served it.
PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
import pyarrow as pa, pyarrow.parquet as pq
pq.write_table(pa.table({"n": list(range(200_000))}), sys.argv[2])
print(json.dumps({"mimalloc": pa.mimalloc_memory_pool().max_memory(),
                  "system": pa.system_memory_pool().max_memory()}))
"""


def _allocators(entry: str, tmp_path, **env: str) -> dict[str, int]:
    environ = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, entry, str(tmp_path / "probe.parquet")],
        env={**environ, **env},
        cwd=REPO,  # `bench` is not an installed package
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize("entry", ["pipelines.cli", "bench.child"])
def test_the_loading_process_writes_parquet_with_glibc_not_mimalloc(entry, tmp_path):
    used = _allocators(entry, tmp_path)
    assert used["mimalloc"] == 0
    assert used["system"] > 1_000_000


def test_an_allocator_the_user_chose_is_kept(tmp_path):
    used = _allocators("pipelines.cli", tmp_path, ARROW_DEFAULT_MEMORY_POOL="mimalloc")
    assert used["mimalloc"] > 1_000_000
