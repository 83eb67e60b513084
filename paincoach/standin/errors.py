"""Bot API errors in the exact shape Telegram returns them."""

from typing import Any


class ApiError(Exception):
    """A failed Bot API call: becomes `{"ok": false, "error_code", "description"}`."""

    def __init__(self, error_code: int, description: str, *, retry_after: int | None = None):
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(reason: str) -> ApiError:
    """Telegram's 400, e.g. bad_request("chat not found")."""
    return ApiError(400, f"Bad Request: {reason}")


def too_many_requests(retry_after: int) -> ApiError:
    """Telegram's 429 flood-wait answer."""
    return ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)


def server_error(error_code: int) -> ApiError:
    """A 5xx like the ones Telegram's front end occasionally returns."""
    reasons = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
    return ApiError(error_code, reasons.get(error_code, "Internal Server Error"))
