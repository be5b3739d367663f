"""Errors raised by the domain and the application service."""

from __future__ import annotations


class EventTriggerError(Exception):
    """Root of every error the service raises on purpose."""


class InvalidInputError(EventTriggerError):
    """Raised when a value given by a person breaks a rule.

    ``field`` names the offending input, when one is at fault.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidScheduleError(InvalidInputError):
    """Raised when a schedule cannot be built or can never fire."""


class NotFoundError(EventTriggerError):
    """Raised when a trigger does not exist, is deleted or is someone else's."""

    def __init__(self, message: str = "Trigger not found") -> None:
        super().__init__(message)
        self.message = message


class ConflictError(EventTriggerError):
    """Raised when a command clashes with the state it would change."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DueTimeAlreadyFulfilledError(ConflictError):
    """Raised when a scheduled firing names a due time that is not the next one."""
