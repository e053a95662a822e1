"""Every router of the API, listed once, in the order of the OpenAPI document (its tags and
paths): create_app() includes exactly these. Each module declares its tag's description as TAG."""

from __future__ import annotations

from types import ModuleType

from api.routers import (
    auth,
    bookings,
    coupons,
    doctors,
    faqs,
    health,
    hospitals,
    insurance,
    invoices,
    lab_tests,
    laboratories,
    media,
    medical_records,
    notifications,
    packages,
    patients,
    payments,
    prescriptions,
    reviews,
    support,
    translations,
    treatments,
    upload,
    users,
    webhooks,
    website,
)

ROUTERS: tuple[ModuleType, ...] = (
    auth,
    users,
    hospitals,
    doctors,
    treatments,
    packages,
    laboratories,
    insurance,
    bookings,
    patients,
    medical_records,
    prescriptions,
    lab_tests,
    upload,
    media,
    reviews,
    faqs,
    payments,
    webhooks,
    website,
    translations,
    invoices,
    coupons,
    support,
    notifications,
    health,
)
