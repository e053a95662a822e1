"""Request and response bodies of /auth."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from api.schemas.users import Email, Locale, Name, Password, Phone, ProfileOut

Token = Annotated[str, StringConstraints(min_length=10, max_length=512)]


class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    password: Password
    phone: Phone = None
    user_type: Literal["patient", "doctor", "hospital_admin"] = "patient"
    first_name: Name
    last_name: Name
    locale: Locale = None


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    password: Password


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: Token


class EmailRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Token


class ResetPasswordRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Token
    password: Password


class AuthResult(BaseModel):
    user: ProfileOut
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int
