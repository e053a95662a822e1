"""Password hashing (argon2id) and the password policy, with messages a person can act on."""

from __future__ import annotations

import re
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


@dataclass(frozen=True)
class HashCost:
    """argon2id's work factors: passes over memory, memory in KiB, lanes. The defaults are
    argon2-cffi's (RFC 9106's low-memory profile), about half a second a hash on one core."""

    time_cost: int = 3
    memory_kib: int = 65536
    parallelism: int = 4


STRONG = HashCost()


class _Hashing:
    """The process's hasher and the dummy hash that an unknown e-mail is verified against."""

    def __init__(self, cost: HashCost) -> None:
        self.cost = cost
        self.hasher = PasswordHasher(
            time_cost=cost.time_cost, memory_cost=cost.memory_kib, parallelism=cost.parallelism
        )
        self._dummy: str | None = None

    @property
    def dummy(self) -> str:
        if self._dummy is None:
            self._dummy = self.hasher.hash("medivoy-timing-equalizer")
        return self._dummy


_hashing = _Hashing(STRONG)


def configure_password_hashing(cost: HashCost) -> None:
    """Set the cost of new hashes for this process (from the MEDIVOY_PASSWORD_HASH_* settings,
    at start). Existing hashes keep verifying: each one carries its own parameters."""
    global _hashing
    if cost != _hashing.cost:
        _hashing = _Hashing(cost)


MIN_LENGTH = 10
MAX_LENGTH = 128


def password_problems(password: str, *, email: str | None = None) -> list[str]:
    """Everything wrong with a password, empty when it is acceptable."""
    problems: list[str] = []
    if len(password) < MIN_LENGTH:
        problems.append(f"must be at least {MIN_LENGTH} characters long")
    if len(password) > MAX_LENGTH:
        problems.append(f"must be at most {MAX_LENGTH} characters long")
    if not re.search(r"[a-z]", password):
        problems.append("must contain a lower-case letter")
    if not re.search(r"[A-Z]", password):
        problems.append("must contain an upper-case letter")
    if not re.search(r"\d", password):
        problems.append("must contain a digit")
    if not re.search(r"[^A-Za-z0-9]", password):
        problems.append("must contain a symbol")
    if email and email.split("@")[0].lower() in password.lower() and len(email.split("@")[0]) >= 3:
        problems.append("must not contain your e-mail name")
    return problems


def hash_password(password: str) -> str:
    return _hashing.hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether the password matches. With no hash (an unknown e-mail) it is checked against a
    dummy hash of the same cost and refused, so login timing is the same either way."""
    try:
        return _hashing.hasher.verify(password_hash or _hashing.dummy, password) and bool(
            password_hash
        )
    except (VerificationError, InvalidHashError):
        return False
