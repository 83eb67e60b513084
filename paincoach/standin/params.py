"""Bot API request parameters, read the way Telegram reads them.

PTB sends every parameter as a form field: strings as they are, everything else (ints,
bools, reply_markup, entities, allowed_updates...) JSON-encoded. Files go as multipart parts,
either under the parameter's own name or under a name referenced as ``attach://<name>``.
JSON bodies carry native values instead, so each getter accepts both.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from paincoach.standin.errors import ApiError, bad_request


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request."""

    data: bytes
    filename: str
    mime_type: str


async def read_request(request: web.Request) -> dict[str, Any]:
    """Collect query-string, form, multipart and JSON parameters of one Bot API call."""
    params: dict[str, Any] = dict(request.query)
    if not request.body_exists:
        return params
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError as exc:
            raise bad_request("can't parse JSON object") from exc
        if not isinstance(body, dict):
            raise bad_request("JSON object expected")
        params.update(body)
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        for name, value in form.items():
            if isinstance(value, web.FileField):
                params[name] = Upload(
                    data=value.file.read(),
                    filename=value.filename,
                    mime_type=value.content_type or "application/octet-stream",
                )
            elif isinstance(value, str):
                params[name] = value
            else:
                # a binary part sent without a filename is still a file upload
                params[name] = Upload(bytes(value), "file", "application/octet-stream")
    return params


class Params:
    """Typed access to one call's parameters, raising Telegram's 400s on bad values."""

    def __init__(self, raw: Mapping[str, Any]):
        self.raw = raw

    def has(self, name: str) -> bool:
        return name in self.raw

    def get_str(self, name: str) -> str | None:
        value = self.raw.get(name)
        if value is None or isinstance(value, Upload):
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def get_int(self, name: str, default: int | None = None) -> int | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool | Upload):
            raise bad_request(f"invalid {name} specified")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None

    def get_float(self, name: str, default: float | None = None) -> float | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return default
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None

    def get_bool(self, name: str, default: bool = False) -> bool:
        value = self.raw.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value != 0
        return str(value).strip().lower() in ("true", "1", "yes", "on")

    def get_json(self, name: str, what: str | None = None) -> Any:
        """A nested object/array parameter: JSON text in forms, native in JSON bodies."""
        value = self.raw.get(name)
        if not isinstance(value, str):
            return value
        if value == "":
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {what or name} JSON object") from None

    def get_file(self, name: str) -> Upload | str | None:
        """A file parameter: an upload, or a file_id / URL string (attach:// is resolved)."""
        value = self.raw.get(name)
        if isinstance(value, str) and value.startswith("attach://"):
            attached = self.raw.get(value.removeprefix("attach://"))
            if not isinstance(attached, Upload):
                raise bad_request(f"wrong file identifier/HTTP URL specified for {name}")
            return attached
        if value is None or isinstance(value, Upload):
            return value
        return str(value)

    def require_chat_id(self) -> int:
        """The chat_id parameter; only numeric ids, since the stand-in has no public chats."""
        value = self.raw.get("chat_id")
        if value is None or value == "":
            raise bad_request("chat_id is empty")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise bad_request("chat not found") from None

    def require_message_id(self) -> int:
        message_id = self.get_int("message_id")
        if message_id is None:
            raise bad_request("message identifier is not specified")
        return message_id


def not_found() -> ApiError:
    """Answer for an unknown method with a valid token."""
    return ApiError(404, "Not Found: method not found")
