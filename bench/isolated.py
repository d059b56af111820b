"""Run one bench function in a fresh process: `python -m bench.isolated module:function JSON`.

DuckDB work (the floor of scenario 3, the transforms of scenario 5) runs here rather than in
the bench's own process, so its memory and caches never carry into later measurements.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def call(target: str, **kwargs: Any) -> Any:
    """`target(**kwargs)` in a child process; the result must be JSON."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.isolated", target, json.dumps(kwargs, default=str)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{target} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            result = line  # the last JSON line is the result; earlier ones are progress
    return json.loads(result)["result"]


def main() -> None:
    module, name = sys.argv[1].split(":")
    function = getattr(importlib.import_module(module), name)
    result = function(**json.loads(sys.argv[2]))
    print(json.dumps({"result": result}, default=str), flush=True)


if __name__ == "__main__":
    main()
