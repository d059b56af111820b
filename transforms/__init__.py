"""SQL models that turn raw UtilityAPI tables into the tables analysts query."""

from transforms.runner import ModelRun, RunSummary, TransformError, run
from transforms.state import MeterDays

__all__ = ["MeterDays", "ModelRun", "RunSummary", "TransformError", "run"]
