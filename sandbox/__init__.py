"""A local UtilityAPI v2 server for demos, tests and benchmarks."""

from .config import FaultConfig, SandboxConfig
from .facade import Sandbox, Truth
from .requestlog import RequestRecord

__all__ = ["FaultConfig", "RequestRecord", "Sandbox", "SandboxConfig", "Truth"]
