"""The User aggregate: a registered name and the hash of its password."""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

USER_NAMESPACE = uuid5(NAMESPACE_URL, "eventtrigger:user")


class User(Aggregate):
    """A person who owns triggers.

    The id is derived from the username, so two registrations of one name
    collide in the store instead of creating two users.
    """

    class Registered(Aggregate.Created):
        username: str
        password_hash: str

    def __init__(self, username: str, password_hash: str) -> None:
        self.username = username
        self.password_hash = password_hash

    @staticmethod
    def id_for(username: str) -> UUID:
        return uuid5(USER_NAMESPACE, username)

    @classmethod
    def register(cls, username: str, password_hash: str, now: datetime) -> User:
        return cls._create(
            cls.Registered,
            id=cls.id_for(username),
            timestamp=now,
            username=username,
            password_hash=password_hash,
        )
