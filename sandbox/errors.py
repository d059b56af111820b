"""The API's error responses: `{"error", "error_description", "url"}` with a status code."""

from __future__ import annotations

DOCS = "https://utilityapi.com/docs"


class ApiError(Exception):
    """An error the API answers with a JSON Error body."""

    def __init__(self, status: int, error: str, description: str, url: str | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.url = url

    def body(self) -> dict[str, str | None]:
        return {"error": self.error, "error_description": self.description, "url": self.url}


def invalid_param(description: str) -> ApiError:
    return ApiError(400, "invalid_param", description, f"{DOCS}/formats")


def required_param_missing(description: str) -> ApiError:
    return ApiError(400, "required_param_missing", description, f"{DOCS}/api")


def not_found(what: str) -> ApiError:
    return ApiError(
        404, "not_found", f"{what} does not exist or you do not have access to it.", None
    )


def unauthorized() -> ApiError:
    return ApiError(
        401,
        "invalid_token",
        "The access token is missing, expired or invalid.",
        f"{DOCS}/authentication",
    )


def payment_required() -> ApiError:
    return ApiError(
        402,
        "payment_required",
        "Data collection requires a positive prepaid balance; add funds in your account settings.",
        "https://utilityapi.com/settings/billing",
    )


def expired_or_revoked() -> ApiError:
    return ApiError(
        400,
        "expired_or_revoked",
        "All requested meters belong to expired or revoked authorizations.",
        f"{DOCS}/api/meters/historical-collection",
    )


def forbidden(description: str) -> ApiError:
    return ApiError(403, "forbidden", description, f"{DOCS}/api/authorizations/delete")
