"""Password hashing: production keeps argon2id's strong default cost, a configured cost is what
new hashes use, and a hash made at any cost still verifies."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import extract_parameters

from domain.passwords import (
    STRONG,
    HashCost,
    configure_password_hashing,
    hash_password,
    verify_password,
)
from runtime.settings import Settings

CHEAP = HashCost(time_cost=1, memory_kib=8, parallelism=1)


@pytest.fixture
def restore_cost() -> Iterator[None]:
    yield
    configure_password_hashing(Settings(_env_file=None).password_hash_cost)


def test_the_default_cost_is_the_strong_one(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TIME_COST", "MEMORY_KIB", "PARALLELISM"):
        monkeypatch.delenv(f"MEDIVOY_PASSWORD_HASH_{name}", raising=False)
    assert Settings(_env_file=None).password_hash_cost == STRONG
    assert HashCost(time_cost=3, memory_kib=65536, parallelism=4) == STRONG


def test_new_hashes_use_the_configured_cost(restore_cost: None) -> None:
    configure_password_hashing(HashCost(time_cost=2, memory_kib=16, parallelism=2))
    made = extract_parameters(hash_password("Correct-Horse-42!"))
    assert (made.time_cost, made.memory_cost, made.parallelism) == (2, 16, 2)


def test_a_hash_of_another_cost_still_verifies(restore_cost: None) -> None:
    configure_password_hashing(CHEAP)
    cheap = hash_password("Correct-Horse-42!")
    configure_password_hashing(HashCost(time_cost=2, memory_kib=16, parallelism=2))
    assert verify_password(cheap, "Correct-Horse-42!")
    assert not verify_password(cheap, "Wrong-Horse-42!")


def test_an_unknown_account_is_refused() -> None:
    assert not verify_password(None, "medivoy-timing-equalizer")
    assert not verify_password("not-a-hash", "Correct-Horse-42!")
