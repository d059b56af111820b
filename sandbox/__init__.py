"""A local UtilityAPI v2 server for demos, tests and benchmarks."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .config import FaultConfig, SandboxConfig

if TYPE_CHECKING:
    from .facade import Sandbox, Truth
    from .requestlog import RequestRecord

__all__ = ["FaultConfig", "RequestRecord", "Sandbox", "SandboxConfig", "Truth"]

# The server's modules (its web framework, data generator, page renderer) load on first use:
# `uapi` imports `sandbox.cli` for its arguments on every run, and a load against UtilityAPI
# needs none of them (they were a third of the command's start-up).
_LAZY = {"Sandbox": ".facade", "Truth": ".facade", "RequestRecord": ".requestlog"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
