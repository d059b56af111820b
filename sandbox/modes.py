"""Readings of the API where its documentation is silent or ambiguous, switchable while serving.

The sandbox's defaults encode one reading of each; a mode flips it, so a client can be proven
correct under every plausible reading. The modes here change how requests are answered, not the
world, so they can change at any time (`/_sandbox/modes`); modes that shape the world itself
(growing Interval objects, events only with a webhook) are fixed in `SandboxConfig`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

# Utilities whose meters are listed unexpanded when the mode is switched on without a list:
# a subset of every generated world's utilities (both appear in the `test` scale).
DEFAULT_UNEXPANDED = ("PG&E", "SRP")
UNEXPANDED_STYLES = ("absent", "nulls")
SIGNATURE_FORMS = ("raw", "indented")


@dataclass(frozen=True)
class Modes:
    """How requests are answered where the reference allows several readings.

    Every field's default is the sandbox's historical behaviour.
    """

    # `limit` on /bills and /intervals caps the whole result: at most `limit` objects, no `next`.
    limit_caps: bool = False
    # `start` on /intervals selects objects whose first reading starts on/after it (whole
    # objects), instead of trimming every overlapping object's readings.
    start_filters_objects: bool = False
    # `next` links keep only `after` (plus `meters`/`authorizations` on /bills and /intervals).
    next_drops_filters: bool = False
    # /intervals gives up after this many objects per query: `is_incomplete: true`, `next: null`.
    incomplete_after: int | None = None
    # Meters of these utilities are unexpanded unless `expand_meter_blocks=true`.
    unexpanded_utilities: tuple[str, ...] = ()
    # "absent": no base block (`blocks: []`); "nulls": a base block whose attributes are null.
    unexpanded_style: str = "absent"
    # "raw": the signature covers the bytes sent; "indented": the body is sent compact but
    # signed over its 4-space-indented serialisation.
    webhook_signature: str = "raw"
    # Share of `after` pages that list the cursor's object again first (as when new objects
    # push an offset-paged listing while a client pages).
    page_repeat_rate: float = 0.0

    def __post_init__(self) -> None:
        for name in ("limit_caps", "start_filters_objects", "next_drops_filters"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be a boolean")
        if self.incomplete_after is not None and (
            isinstance(self.incomplete_after, bool)
            or not isinstance(self.incomplete_after, int)
            or self.incomplete_after < 1
        ):
            raise ValueError("incomplete_after must be >= 1 or None")
        if self.unexpanded_style not in UNEXPANDED_STYLES:
            raise ValueError(f"unexpanded_style must be one of {', '.join(UNEXPANDED_STYLES)}")
        if self.webhook_signature not in SIGNATURE_FORMS:
            raise ValueError(f"webhook_signature must be one of {', '.join(SIGNATURE_FORMS)}")
        if not isinstance(self.page_repeat_rate, int | float) or not (
            0.0 <= self.page_repeat_rate <= 1.0
        ):
            raise ValueError("page_repeat_rate must be within 0..1")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_values(cls, values: Any) -> Modes:
        """The modes named like fields of `values` (a SandboxConfig or a mapping)."""
        if isinstance(values, dict):
            return cls(**{n: _coerce(n, values[n]) for n in cls.names() if n in values})
        return cls(**{n: getattr(values, n) for n in cls.names()})

    def updated(self, changes: dict[str, Any]) -> Modes:
        unknown = set(changes) - set(self.names())
        if unknown:
            raise ValueError(f"not a switchable mode: {', '.join(sorted(unknown))}")
        return replace(self, **{n: _coerce(n, v) for n, v in changes.items()})

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["unexpanded_utilities"] = list(self.unexpanded_utilities)
        return data


def _coerce(name: str, value: Any) -> Any:
    # JSON has no tuples; a bare string names one utility.
    if name == "unexpanded_utilities":
        if isinstance(value, str):
            return (value,)
        return tuple(value or ())
    return value
