"""How a run ended, as an exit status a scheduler can act on and a word for the JSON report."""

from __future__ import annotations

from enum import Enum


class Outcome(Enum):
    """Each outcome with its exit status; README's "Exit statuses" lists the same."""

    OK = ("ok", 0)
    FAILED = ("failed", 1)  # nothing was committed: an API, configuration or destination error
    USAGE = ("usage_error", 2)  # bad input; nothing was done
    PARTIAL = ("partial", 3)  # committed, but some meters or resources failed or were deferred
    TRANSFORM_FAILED = ("transform_failed", 4)  # the load is committed; the transform failed
    LOCKED = ("locked", 75)  # another run holds the lock (EX_TEMPFAIL: try again later)

    def __init__(self, status: str, exit_code: int) -> None:
        self.status = status
        self.exit_code = exit_code
