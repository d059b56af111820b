"""Errors raised by the UtilityAPI client; each message says what to do next."""

from __future__ import annotations

from typing import Any

TOKEN_HELP = (
    "Set it in .dlt/secrets.toml under [sources.utilityapi] api_token, or in the environment "
    "variable SOURCES__UTILITYAPI__API_TOKEN (or pass --token). The same token serves test "
    "and production data; create or renew tokens in the UtilityAPI dashboard (API Settings)."
)
PREPAID_HELP = (
    "UtilityAPI only collects data for accounts on a prepaid plan with a positive balance, and "
    "a prepaid balance of at least $50 is needed to trigger collections. Add funds in the "
    "UtilityAPI dashboard (payments cannot be made through the API), then retry."
)


class UtilityAPIError(Exception):
    """Base class of every error the connector raises about the API."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        kind: str | None = None,
        description: str | None = None,
        endpoint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.description = description
        self.endpoint = endpoint


class MissingTokenError(UtilityAPIError):
    """No API token was configured."""


class AuthenticationError(UtilityAPIError):
    """401: the API token is missing, wrong or expired."""


class PaymentRequiredError(UtilityAPIError):
    """402: the account is not prepaid or its balance is negative."""


class PermissionDeniedError(UtilityAPIError):
    """403: the token may not do this (e.g. deleting a non-test authorization)."""


class NotFoundError(UtilityAPIError):
    """404: the object does not exist or this account cannot see it."""


class BadRequestError(UtilityAPIError):
    """400: the API rejected the request; `kind` holds its `error` value."""


class ExpiredOrRevokedError(BadRequestError):
    """400 expired_or_revoked: every meter asked for has a revoked or expired authorization."""


class RateLimitedError(UtilityAPIError):
    """429 kept coming back after every retry."""


class ServerError(UtilityAPIError):
    """5xx kept coming back after every retry."""


class TransportError(UtilityAPIError):
    """The connection failed, timed out or was cut, after every retry."""


class DeadlineExceededError(TransportError):
    """A response kept trickling in past the per-request deadline."""


class MalformedResponseError(UtilityAPIError):
    """A response was not the JSON the contract promises, after every retry."""


class ResponseTooLargeError(MalformedResponseError):
    """A response was larger than the connector will hold in memory."""


_BY_STATUS: dict[int, tuple[type[UtilityAPIError], str]] = {
    401: (
        AuthenticationError,
        "UtilityAPI rejected the API token (401) on {endpoint}{detail}. " + TOKEN_HELP,
    ),
    402: (
        PaymentRequiredError,
        "UtilityAPI answered 402 Payment Required on {endpoint}{detail}. " + PREPAID_HELP,
    ),
    403: (
        PermissionDeniedError,
        "UtilityAPI refused {endpoint} (403){detail}. Only test "
        "authorizations can be deleted; use revoke for real ones, and check the token belongs "
        "to this account.",
    ),
    404: (
        NotFoundError,
        "UtilityAPI found nothing at {endpoint} (404){detail}. The uid may be "
        "wrong, deleted or revoked, or belong to another account.",
    ),
}
_BY_KIND: dict[str, tuple[type[UtilityAPIError], str]] = {
    "expired_or_revoked": (
        ExpiredOrRevokedError,
        "UtilityAPI refused {endpoint}: every meter "
        "asked for belongs to an expired or revoked authorization{detail}. Ask the customer to "
        "re-authorize.",
    ),
}
_OTHER = (BadRequestError, "UtilityAPI answered {status} with {what} on {endpoint}{detail}.")


def error_for_status(status: int, body: Any, endpoint: str) -> UtilityAPIError:
    """Map a 4xx response to the error a user can act on."""
    kind, description = _error_fields(body)
    cls, template = _BY_STATUS.get(status) or _BY_KIND.get(kind or "") or _OTHER
    message = template.format(
        endpoint=endpoint,
        status=status,
        detail=f" ({description})" if description else "",
        what=f"'{kind}'" if kind else "an error",
    )
    return cls(message, status=status, kind=kind, description=description, endpoint=endpoint)


def _error_fields(body: Any) -> tuple[str | None, str | None]:
    if not isinstance(body, dict):
        return None, None
    kind = body.get("error")
    description = body.get("error_description")
    return (
        str(kind) if kind is not None else None,
        str(description) if description is not None else None,
    )


# Errors about the account or the token: every other request would fail the same way.
_RUN_ENDING = (
    MissingTokenError,
    AuthenticationError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitedError,
)


def ends_the_run(error: BaseException) -> bool:
    """Whether an error fetching one meter's data should stop the whole load.

    Account-wide API errors and anything that is not an API error (a bug) stop it; a meter's
    own failures (5xx that outlast the retries, a broken or oversized page, a meter gone)
    fail only that meter, which the next run retries.
    """
    return isinstance(error, _RUN_ENDING) or not isinstance(error, UtilityAPIError)
