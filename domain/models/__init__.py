"""The SQLAlchemy models of the schema, one module per aggregate. Importing this registers all."""

from domain.models.base import Base
from domain.models.notifications import Notification, OutboxMessage
from domain.models.users import EmailVerification, PasswordReset, Patient, RefreshToken, User

__all__ = [
    "Base",
    "EmailVerification",
    "Notification",
    "OutboxMessage",
    "PasswordReset",
    "Patient",
    "RefreshToken",
    "User",
]
