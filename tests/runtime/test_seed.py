"""The demo catalog seed: realistic, complete, and safe to run again."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cli.seed import HOSPITALS, PACKAGES, TREATMENTS, seed
from domain.access import Role
from domain.models import (
    Doctor,
    Hospital,
    HospitalDoctor,
    HospitalTreatment,
    Package,
    User,
    WebsiteContent,
)
from domain.passwords import verify_password


async def _count(db: AsyncSession, model: type) -> int:
    return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def test_seed_creates_the_demo_catalog(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    created = await seed(sessionmaker)

    doctors = sum(len(h.doctors) for h in HOSPITALS)
    assert created["hospitals"] == len(HOSPITALS) == 5
    assert created["treatments"] == len(TREATMENTS)
    assert created["doctors"] == created["users"] == created["hospital_doctors"] == doctors
    assert created["hospital_treatments"] == sum(len(h.prices) for h in HOSPITALS)
    assert created["packages"] == len(PACKAGES)
    assert created["faqs"] >= 3
    assert created["insurance"] >= 2
    assert created["subscription_plans"] >= 2
    async with sessionmaker() as db:
        countries = set(await db.scalars(select(Hospital.country)))
        slugs = set(await db.scalars(select(WebsiteContent.page_slug)))
        assert await _count(db, Doctor) == doctors
        assert await _count(db, HospitalDoctor) == doctors
        prices = list(await db.scalars(select(HospitalTreatment.base_price)))
    assert countries == {"India", "Turkey", "Thailand", "Mexico", "Germany"}
    assert {"about", "privacy"} <= slugs
    assert all(isinstance(p, Decimal) and p > 0 for p in prices)


async def test_seeded_doctors_are_approved_accounts_nobody_can_log_into(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await seed(sessionmaker)
    async with sessionmaker() as db:
        users = list(await db.scalars(select(User).where(User.user_type == Role.DOCTOR.value)))
    assert users
    assert all(u.is_verified and u.is_approved and u.is_active for u in users)
    assert all(u.password_hash.startswith("$argon2id$") for u in users)
    assert len({u.password_hash for u in users}) == len(users)
    assert not any(verify_password(u.password_hash, "") for u in users)


async def test_seeding_twice_creates_nothing_new(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    first = await seed(sessionmaker)
    async with sessionmaker() as db:
        before = {m.__tablename__: await _count(db, m) for m in (Hospital, Doctor, Package, User)}

    second = await seed(sessionmaker)

    assert set(second) == set(first)
    assert all(count == 0 for count in second.values()), second
    async with sessionmaker() as db:
        after = {m.__tablename__: await _count(db, m) for m in (Hospital, Doctor, Package, User)}
    assert after == before
