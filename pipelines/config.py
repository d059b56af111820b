"""The source's settings as dlt resolves them: the source's signature is their only declaration.

The CLI passes the flags a user gave as explicit values; everything else comes from dlt's
providers (environment, .dlt/secrets.toml, .dlt/config.toml), so a setting works the same from a
flag, the environment or a config file. Commands that talk to the API without loading (test
submits, collections, event polling) build their client from the same resolution.
"""

from __future__ import annotations

from typing import Any

from dlt.common.configuration import resolve_configuration
from dlt.common.configuration.exceptions import ConfigFieldMissingException
from dlt.common.configuration.inject import get_fun_spec

from sources.utilityapi import UtilityAPIClient, utilityapi
from sources.utilityapi.clock import SYSTEM_CLOCK, Clock
from sources.utilityapi.errors import TOKEN_HELP, MissingTokenError

SECTIONS = ("sources", "utilityapi")


def source_settings(explicit: dict[str, Any]) -> Any:
    """Every setting of the `utilityapi` source, resolved as dlt would resolve it."""
    try:
        return resolve_configuration(
            get_fun_spec(utilityapi)(), sections=SECTIONS, explicit_value=explicit
        )
    except ConfigFieldMissingException as exc:
        if "api_token" in exc.fields:
            raise MissingTokenError(f"No UtilityAPI API token was given. {TOKEN_HELP}") from None
        raise


def api_client(explicit: dict[str, Any], clock: Clock = SYSTEM_CLOCK) -> UtilityAPIClient:
    """A client configured like the source's own."""
    settings = source_settings(explicit)
    return UtilityAPIClient(
        settings.api_token,
        settings.base_url,
        rate_limit=settings.rate_limit or None,
        max_concurrency=settings.max_concurrency,
        clock=clock,
    )
