"""User and profile shapes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from api.i18n import served_locales
from domain.access import Role


def _phone(value: str | None) -> str | None:
    if value is None:
        return None
    cleaned = value.replace(" ", "").replace("-", "")
    if not (cleaned.startswith("+") and cleaned[1:].isdigit() and 8 <= len(cleaned) <= 16):
        raise ValueError("must be an international number like +14155550100")
    return cleaned


def _locale(value: str | None) -> str | None:
    locales = served_locales()
    if value is not None and value not in locales:
        raise ValueError(f"must be one of {', '.join(locales)}")
    return value


def _email(value: str) -> str:
    return value.strip().lower()


Email = Annotated[EmailStr, AfterValidator(_email)]
Phone = Annotated[str | None, AfterValidator(_phone)]
Locale = Annotated[str | None, AfterValidator(_locale)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    phone: str | None
    user_type: Role
    first_name: str | None
    last_name: str | None
    profile_picture: str | None
    locale: str
    is_verified: bool
    is_approved: bool
    is_active: bool
    pending_email: str | None = Field(
        None, description="An e-mail change waiting for its link to be confirmed"
    )
    last_login: datetime | None
    created_at: datetime
    updated_at: datetime


class ProfileOut(UserOut):
    patient_id: uuid.UUID | None = None
    doctor_id: uuid.UUID | None = None
    hospital_id: uuid.UUID | None = None


class ProfileUpdate(BaseModel):
    """What a person may change about themselves."""

    model_config = ConfigDict(extra="forbid")

    email: Email | None = Field(
        None, description="Takes effect once the link sent to the new address is confirmed"
    )
    first_name: Name | None = None
    last_name: Name | None = None
    phone: Phone = None
    locale: Locale = None
    profile_picture: Annotated[str, StringConstraints(max_length=2000)] | None = None


class UserCreate(BaseModel):
    """An admin creates any kind of account, coordinators and admins included."""

    model_config = ConfigDict(extra="forbid")

    email: Email
    password: Password
    user_type: Role
    phone: Phone = None
    first_name: Name | None = None
    last_name: Name | None = None
    locale: Locale = None
    is_verified: bool = True


class UserUpdate(ProfileUpdate):
    """An admin may also approve, verify and change the role."""

    user_type: Role | None = None
    is_verified: bool | None = None
    is_approved: bool | None = None


class UserFilters(BaseModel):
    user_type: Role | None = None
    is_active: bool | None = None
    search: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = Field(
        None, description="Matches e-mail, first or last name"
    )
