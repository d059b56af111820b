"""Calls that change things at UtilityAPI: test submits and (charged) collections.

Nothing in the loading path calls these; only explicit commands do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import settings
from .client import UtilityAPIClient
from .errors import MalformedResponseError, NotFoundError
from .records import is_not_activated

SCENARIOS = (
    "residential",
    "commercial",
    "badlogin",
    "badlogin_after",
    "websitedown",
    "websitedown_after",
    "utilityerror",
)
FREQUENCIES = ("daily", "weekly", "monthly", "off")


@dataclass
class Submission:
    form_uid: str
    referral: str | None
    authorization: dict[str, Any] | None


@dataclass
class CollectionResult:
    """What UtilityAPI accepted of a collection request; `dropped` it silently ignored."""

    requested: list[str]
    accepted: list[str]
    response: dict[str, Any]

    @property
    def dropped(self) -> list[str]:
        accepted = set(self.accepted)
        return [uid for uid in self.requested if uid not in accepted]


def submit_test_form(
    client: UtilityAPIClient, scenario: str, utility: str = "DEMO", form_uid: str | None = None
) -> Submission:
    """Create a form if none is given, test-submit it, and find the new authorization."""
    if form_uid is None:
        form = client.post("forms", {"utility": utility})
        form_uid = str(_field(form, "uid", "POST /forms"))
    response = client.post(
        f"forms/{form_uid}/test-submit", {"utility": utility, "scenario": scenario}
    )
    referral = response.get("referral") if isinstance(response, dict) else None
    authorization = None
    if isinstance(response, dict) and response.get("authorization_uid"):
        authorization = client.get(
            f"authorizations/{response['authorization_uid']}", {"include": "meters"}
        )
    elif referral:
        found = client.get("authorizations", {"referrals": referral, "include": "meters"})
        listed = found.get("authorizations") if isinstance(found, dict) else None
        authorization = listed[0] if listed else None
    return Submission(str(form_uid), referral, authorization)


def select_meters(
    client: UtilityAPIClient,
    *,
    meter_uids: Sequence[str] | None = None,
    authorization_uid: str | None = None,
    not_activated: bool = False,
) -> list[dict[str, Any]]:
    """The meters a collect command is about, as the API lists them now."""
    if meter_uids:
        meters = _list_meters(client, {"uids": list(meter_uids)})
        missing = set(meter_uids) - {str(m.get("uid")) for m in meters}
        if missing:
            raise NotFoundError(
                f"UtilityAPI does not list these meters: {', '.join(sorted(missing))}. Check "
                "the uids; meters of a revoked authorization are deleted with their data."
            )
        return meters
    if authorization_uid:
        return _list_meters(client, {"authorizations": authorization_uid})
    if not_activated:
        # The filter is documented; the client-side check keeps us right if it is ignored.
        return [m for m in _list_meters(client, {"is_activated": False}) if is_not_activated(m)]
    raise ValueError("name the meters: meter uids, an authorization, or not_activated")


def start_historical_collection(
    client: UtilityAPIClient, meter_uids: Sequence[str], months: int | None
) -> CollectionResult:
    """POST /meters/historical-collection. Charged by UtilityAPI for each meter collected."""
    body: dict[str, Any] = {"meters": list(meter_uids)}
    if months is not None:
        body["collection_duration"] = months
    response = client.post("meters/historical-collection", body)
    return CollectionResult(list(meter_uids), _accepted(response), response)


def set_monitoring(
    client: UtilityAPIClient, meter_uids: Sequence[str], frequency: str
) -> CollectionResult:
    """POST /meters/ongoing-monitoring; `off` stops it. Each refresh is charged."""
    response = client.post(
        "meters/ongoing-monitoring", {"meters": list(meter_uids), "frequency": frequency}
    )
    return CollectionResult(list(meter_uids), _accepted(response), response)


def _list_meters(client: UtilityAPIClient, params: dict[str, Any]) -> list[dict[str, Any]]:
    meters: list[dict[str, Any]] = []
    for page in client.pages("meters", "meters", {"limit": settings.MAX_PAGE_SIZE, **params}):
        meters.extend(m for m in page if isinstance(m, dict))
    return meters


def _accepted(response: Any) -> list[str]:
    meters = response.get("meters") if isinstance(response, dict) else None
    return [str(m) for m in meters] if isinstance(meters, list) else []


def _field(obj: Any, name: str, where: str) -> Any:
    if not isinstance(obj, dict) or obj.get(name) is None:
        raise MalformedResponseError(f"UtilityAPI's answer to {where} has no '{name}'.")
    return obj[name]
