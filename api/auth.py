"""Registration, login, the JWTs it issues, and the bearer-token check.

Tokens and passwords are never logged, and never put into an error message.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from datetime import datetime, timedelta
from typing import Any

import jwt
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from api.bodies import read_object
from api.context import context_of
from api.errors import ApiError, unauthorized
from api.openapi import operation
from api.responses import JSONResponse
from api.schemas import Credentials
from domain.errors import InvalidInputError
from eventtrigger.clock import Clock

ALGORITHM = "HS256"
CREDENTIALS_REQUIRED = "Username and password are required"
# Past this many usernames, ones whose window has closed are forgotten.
LIMITER_PRUNE_SIZE = 10_000
# Tokens whose signature has been checked, remembered with their claims.
VERIFIED_TOKENS = 4096


class TokenIssuer:
    """Issues and reads the HS256 tokens that login hands out.

    Expiry is checked against the service clock, not the wall clock, so the
    whole service agrees on what "now" is. Checking a signature costs more
    than the rest of a read, and a client sends the same token many times,
    so a token once verified is remembered (its exact text, signature and
    all); its expiry is still checked on every use.
    """

    def __init__(self, secret: str, ttl_seconds: int, clock: Clock) -> None:
        self._secret = secret
        self._ttl_seconds = ttl_seconds
        self._clock = clock
        self._verified: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def issue(self, user_id: str, username: str) -> str:
        issued = int(self._clock().timestamp())
        claims = {
            "username": username,
            "userid": user_id,
            "iat": issued,
            "exp": issued + self._ttl_seconds,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def user_id_from(self, token: str) -> str:
        """The user id the token names; ApiError (401) when it is bad or expired."""
        known = self._verified.get(token)
        if known is None:
            if "=" in token:
                # A JWT is never padded; the library would read a padded copy
                # as the same token, a second spelling nobody issued.
                raise unauthorized("Invalid token")
            known = self._verify(token)
            self._verified[token] = known
            if len(self._verified) > VERIFIED_TOKENS:
                self._verified.popitem(last=False)
        expires, user_id = known
        if expires <= self._clock().timestamp():
            raise unauthorized("Token has expired")
        return user_id

    def _verify(self, token: str) -> tuple[float, str]:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["exp", "userid"],
                },
            )
        except jwt.InvalidTokenError:
            raise unauthorized("Invalid token") from None
        expires, user_id = claims["exp"], claims["userid"]
        if not _is_number(expires) or not isinstance(user_id, str):
            raise unauthorized("Invalid token")
        return expires, user_id


class LoginLimiter:
    """Refuses logins for a username after too many failures in a sliding window.

    An attempt counts as a failure from the moment it starts, so parallel
    guesses cannot slip past the limit; a successful login clears the count.
    """

    def __init__(self, attempts: int, window_seconds: int, clock: Clock) -> None:
        self._attempts = attempts
        self._window = timedelta(seconds=window_seconds)
        self._clock = clock
        self._failures: dict[str, deque[datetime]] = {}

    def begin_attempt(self, username: str) -> None:
        now = self._clock()
        failures = self._failures.setdefault(username, deque())
        self._forget_before(failures, now - self._window)
        if len(failures) >= self._attempts:
            retry_after = failures[0] + self._window - now
            raise ApiError(
                429,
                "Too many failed login attempts for this username; try again later",
                headers={"Retry-After": str(max(1, int(retry_after.total_seconds())))},
            )
        failures.append(now)
        if len(self._failures) > LIMITER_PRUNE_SIZE:
            self._prune(now)

    def succeed(self, username: str) -> None:
        self._failures.pop(username, None)

    def _prune(self, now: datetime) -> None:
        cutoff = now - self._window
        for username, failures in list(self._failures.items()):
            self._forget_before(failures, cutoff)
            if not failures:
                del self._failures[username]

    @staticmethod
    def _forget_before(failures: deque[datetime], cutoff: datetime) -> None:
        while failures and failures[0] <= cutoff:
            failures.popleft()


async def current_user(request: Request) -> str:
    """The id of the user whose bearer token came with the request."""
    context = context_of(request)
    token = _bearer_token(request.headers.get("authorization"))
    user_id = context.tokens.user_id_from(token)
    if context.service.is_known_user(user_id):
        return user_id
    if not await run_in_threadpool(context.service.user_exists, user_id):
        raise unauthorized("Invalid token")
    return user_id


@operation(
    "Register a user",
    tag="auth",
    status=201,
    body=Credentials,
    secured=False,
    errors=(400, 409),
)
async def register(request: Request) -> JSONResponse:
    credentials = await _credentials(request)
    _check_new_username(credentials.username)
    service = context_of(request).service
    user_id = await run_in_threadpool(
        service.register_user, credentials.username, credentials.password
    )
    return JSONResponse(
        {"message": "User registered successfully", "user_id": user_id},
        status_code=201,
    )


@operation(
    "Log in for a bearer token",
    tag="auth",
    body=Credentials,
    secured=False,
    errors=(400, 401, 429),
)
async def login(request: Request) -> JSONResponse:
    credentials = await _credentials(request)
    context = context_of(request)
    context.limiter.begin_attempt(credentials.username)
    user_id = await run_in_threadpool(
        context.service.authenticate, credentials.username, credentials.password
    )
    if user_id is None:
        raise unauthorized("Invalid username or password")
    context.limiter.succeed(credentials.username)
    token = context.tokens.issue(user_id, credentials.username)
    return JSONResponse(
        {"message": "Login successful", "token": token, "user_id": user_id}
    )


async def _credentials(request: Request) -> Credentials:
    body = await read_object(request)
    try:
        return Credentials.model_validate(body)
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "username"
        if first["type"] == "string_too_long":
            raise
        # The old client shows this exact sentence for any missing part.
        raise InvalidInputError(CREDENTIALS_REQUIRED, field=field) from None


def _check_new_username(username: str) -> None:
    # Names that differ only by invisible characters would fool people.
    if username != username.strip() or any(
        ord(char) < 0x20 or ord(char) == 0x7F for char in username
    ):
        raise InvalidInputError(
            "username must not start or end with spaces or hold control characters",
            field="username",
        )


def _bearer_token(header: str | None) -> str:
    if not header or not header.strip():
        raise unauthorized("Token is missing")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise unauthorized("Invalid token")
    if not token.strip():
        raise unauthorized("Token is missing")
    return token.strip()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


routes = [
    Route("/auth/register", register, methods=["POST"], name="register"),
    Route("/auth/login", login, methods=["POST"], name="login"),
]
