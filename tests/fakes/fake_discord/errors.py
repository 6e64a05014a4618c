"""Discord's JSON error bodies, and the form-error tree of 50035 "Invalid Form Body"."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class DiscordHTTPError(Exception):
    """Raised inside the fake to answer a request with ``status`` and the JSON ``body``."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def _err(status: int, code: int, message: str) -> DiscordHTTPError:
    return DiscordHTTPError(status, {"message": message, "code": code})


def unauthorized() -> DiscordHTTPError:
    """Missing or wrong bot token."""
    return _err(401, 0, "401: Unauthorized")


def not_found() -> DiscordHTTPError:
    """No such route."""
    return _err(404, 0, "404: Not Found")


def method_not_allowed() -> DiscordHTTPError:
    """Known path, wrong method."""
    return _err(405, 0, "405: Method Not Allowed")


def unknown_channel() -> DiscordHTTPError:
    """10003."""
    return _err(404, 10003, "Unknown Channel")


def unknown_guild() -> DiscordHTTPError:
    """10004."""
    return _err(404, 10004, "Unknown Guild")


def unknown_message() -> DiscordHTTPError:
    """10008."""
    return _err(404, 10008, "Unknown Message")


def unknown_webhook() -> DiscordHTTPError:
    """10015: also what interaction webhooks answer before the interaction is acknowledged."""
    return _err(404, 10015, "Unknown Webhook")


def unknown_interaction() -> DiscordHTTPError:
    """10062: unknown id, or the 3 s acknowledgement window has passed."""
    return _err(404, 10062, "Unknown interaction")


def unknown_command() -> DiscordHTTPError:
    """10063."""
    return _err(404, 10063, "Unknown application command")


def missing_access() -> DiscordHTTPError:
    """50001: the bot cannot see the resource."""
    return _err(403, 50001, "Missing Access")


def missing_permissions() -> DiscordHTTPError:
    """50013: the bot sees the resource but lacks a permission."""
    return _err(403, 50013, "Missing Permissions")


def cannot_edit_others() -> DiscordHTTPError:
    """50005."""
    return _err(403, 50005, "Cannot edit a message authored by another user")


def empty_message() -> DiscordHTTPError:
    """50006."""
    return _err(400, 50006, "Cannot send an empty message")


def non_text_channel() -> DiscordHTTPError:
    """50008."""
    return _err(400, 50008, "Cannot send messages in a non-text channel")


def wrong_channel_type() -> DiscordHTTPError:
    """50024."""
    return _err(400, 50024, "Cannot execute action on this channel type")


def invalid_webhook_token() -> DiscordHTTPError:
    """50027: bad or expired (15 min) interaction token."""
    return _err(401, 50027, "Invalid Webhook Token")


def thread_archived() -> DiscordHTTPError:
    """50083."""
    return _err(400, 50083, "Thread is archived")


def already_acknowledged() -> DiscordHTTPError:
    """40060."""
    return _err(400, 40060, "Interaction has already been acknowledged.")


def too_many_commands(limit: int) -> DiscordHTTPError:
    """30032."""
    return _err(400, 30032, f"Maximum number of application commands reached ({limit})")


def reply_without_history() -> DiscordHTTPError:
    """160002."""
    return _err(400, 160002, "Cannot reply without permission to read message history")


def thread_already_exists() -> DiscordHTTPError:
    """160004."""
    return _err(400, 160004, "A thread has already been created for this message")


class FormErrors:
    """Collects field errors into Discord's nested ``errors`` tree (``{"a": {"0": {"_errors": [...]}}}``)."""

    def __init__(self) -> None:
        self.tree: dict[str, Any] = {}

    def add(self, path: Sequence[str | int], code: str, message: str) -> None:
        """Record one error at ``path`` (keys and list indexes)."""
        node = self.tree
        for part in path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def merge(self, prefix: Sequence[str | int], other: FormErrors) -> None:
        """Graft another tree below ``prefix``."""

        def walk(path: list[str | int], node: dict[str, Any]) -> None:
            for key, value in node.items():
                if key == "_errors":
                    for err in value:
                        self.add(path, err["code"], err["message"])
                else:
                    walk([*path, key], value)

        walk(list(prefix), other.tree)

    def __bool__(self) -> bool:
        return bool(self.tree)

    def error(self) -> DiscordHTTPError:
        """The 400 answer for the collected errors."""
        return DiscordHTTPError(400, {"message": "Invalid Form Body", "code": 50035, "errors": self.tree})

    def raise_if_any(self) -> None:
        """Raise the 400 answer when anything was collected."""
        if self.tree:
            raise self.error()

    # Frequent error shapes, worded as Discord words them.
    def max_length(self, path: Sequence[str | int], limit: int) -> None:
        """``BASE_TYPE_MAX_LENGTH``."""
        self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")

    def bad_length(self, path: Sequence[str | int], low: int, high: int) -> None:
        """``BASE_TYPE_BAD_LENGTH``."""
        self.add(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length.")

    def required(self, path: Sequence[str | int]) -> None:
        """``BASE_TYPE_REQUIRED``."""
        self.add(path, "BASE_TYPE_REQUIRED", "This field is required")

    def choices(self, path: Sequence[str | int], allowed: Sequence[object]) -> None:
        """``BASE_TYPE_CHOICES``."""
        rendered = ", ".join(repr(a) if isinstance(a, str) else str(a) for a in allowed)
        self.add(path, "BASE_TYPE_CHOICES", f"Value must be one of {{{rendered}}}.")

    def wrong_type(self, path: Sequence[str | int], kind: str) -> None:
        """Type mismatch (``<KIND>_TYPE_COERCE``)."""
        self.add(path, f"{kind.upper()}_TYPE_COERCE", f"Value is not a valid {kind}.")
