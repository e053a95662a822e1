"""Documents issued as PDFs: the invoice, rendered by WeasyPrint in the patient's language and
kept in storage, rendered once and reused.

Three activities, because only WeasyPrint is synchronous (it runs in the worker's thread pool,
never on the event loop) and the database engine belongs to that loop (an asyncpg pool cannot
be used from another thread or loop):

1. `load_invoice_document` (async): reads the invoice, patient and hospital into plain data.
2. `render_invoice_pdf` (sync, thread pool): renders that data and stores the PDF under
   `invoices/<invoice_id>`. An object already there is reused, not rendered again.
3. `record_invoice_pdf` (async, fast: fit for a local activity): writes the key and the URL on
   the invoice row.

The PDF's bytes never enter Temporal's history: the render step stores them itself and returns
only where they are (key, file name, content type, size), which is what an e-mail attachment
needs. A workflow runs 1, then 2 and 3 unless 1 found the PDF already recorded; every step is
idempotent, so a retry or a second run changes nothing.

A fourth, `load_invoice_mail` (async), reads who gets the invoice's e-mail and what it says, for
InvoiceDeliveryWorkflow (workflows/invoice.py). Numbering, pricing, the row and the PDF's
key and URL are activities/invoicing.py.
"""

from __future__ import annotations

import json
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.invoicing import (
    INVOICE_NOT_FOUND,
    PDF_CONTENT_TYPE,
    InvoiceMail,
    invoice_mail,
    invoice_pdf_file_name,
    invoice_pdf_key,
    invoice_pdf_url,
    subscriber_user_id,
)
from activities.providers.storage import (
    Storage,
    store_once,
)
from activities.render import RTL_LOCALES, normalize_locale
from domain.errors import NotFound
from domain.invoices import line_items_from_json, money
from domain.models.bookings import Booking
from domain.models.catalog import Hospital
from domain.models.payments import Invoice
from domain.models.subscriptions import Subscription
from domain.models.users import Patient, User

if TYPE_CHECKING:
    from runtime.settings import Settings

PACKAGE = Path(__file__).resolve().parent
INVOICE_TEMPLATES = PACKAGE / "templates" / "invoice"
FONTS = PACKAGE / "fonts"
NO_VALUE = "\u2013"  # an en dash where a date or name is missing


class InvoiceRef(BaseModel):
    invoice_id: uuid.UUID


class InvoiceLine(BaseModel):
    description: str
    amount: Decimal


class InvoiceDocument(BaseModel):
    """Everything printed on the invoice, as plain data (names and items: it travels through
    the data converter, where the encryption codec sits, never into search attributes)."""

    invoice_id: uuid.UUID
    invoice_number: str
    # The patient's language (one of the supported locales).
    locale: str
    status: str
    invoice_date: date | None = None
    due_date: date | None = None
    currency: str
    patient_name: str
    patient_city: str | None = None
    patient_country: str | None = None
    hospital_name: str | None = None
    hospital_address: str | None = None
    hospital_city: str | None = None
    hospital_country: str | None = None
    booking_number: str | None = None
    items: list[InvoiceLine]
    subtotal: Decimal
    discount: Decimal
    # Percent; None when the invoice was made without one.
    tax_rate: Decimal | None = None
    tax: Decimal
    final: Decimal
    # Set when the PDF is already rendered and recorded on the row: nothing left to do.
    pdf_storage_key: str | None = None


class InvoicePdf(BaseModel):
    """Where the rendered PDF is, and what an e-mail attachment or a download needs."""

    invoice_id: uuid.UUID
    storage_key: str
    file_name: str
    content_type: str = PDF_CONTENT_TYPE
    size: int
    # False when an earlier attempt had already stored it (nothing was rendered this time).
    rendered: bool


# Babel is not a dependency: the five platform languages are written out here. Digits stay
# Western (0-9) in every language, which Arabic and Hindi invoices commonly use.

_SEPARATORS: dict[str, tuple[str, str]] = {
    # locale: (thousands, decimal)
    "en": (",", "."),
    "ar": (",", "."),
    "hi": (",", "."),
    "es": (".", ","),
    "fr": ("\u202f", ","),  # narrow no-break space, as French typography sets thousands
}


def _group(digits: str, locale: str) -> list[str]:
    if locale == "hi":
        # Indian grouping: 12,34,567 (thousand, then lakh and crore by twos).
        head, tail = digits[:-3], digits[-3:]
        groups = [tail]
        while head:
            groups.insert(0, head[-2:])
            head = head[:-2]
        return groups
    if locale == "es" and len(digits) <= 4:
        # Spanish leaves four-digit numbers ungrouped (1500, but 15.000).
        return [digits]
    groups = []
    while digits:
        groups.insert(0, digits[-3:])
        digits = digits[:-3]
    return groups


def format_amount(value: Decimal, locale: str) -> str:
    """1234567.5 -> '1,234,567.50' (en), '12,34,567.50' (hi), '1.234.567,50' (es),
    '1 234 567,50' (fr): always two places, rounded half up."""
    thousands, decimal = _SEPARATORS.get(locale, _SEPARATORS["en"])
    amount = money(value)
    sign = "-" if amount < 0 else ""
    whole, cents = f"{abs(amount):.2f}".split(".")
    return f"{sign}{thousands.join(_group(whole, locale))}{decimal}{cents}"


def format_money(value: Decimal, currency: str, locale: str) -> str:
    """The amount with its ISO currency code, placed as the language does: 'USD 1,200.00' in
    English and Hindi, '1 200,00 USD' in French and Spanish, '1,200.00 USD' in Arabic."""
    amount = format_amount(value, locale)
    return f"{currency} {amount}" if locale in ("en", "hi") else f"{amount}\u00a0{currency}"


def format_rate(rate: Decimal) -> str:
    """18.00 -> '18', 7.50 -> '7.5'."""
    text_ = f"{money(rate):f}".rstrip("0").rstrip(".")
    return text_ or "0"


def format_date(value: date | None, locale: str) -> str:
    if value is None:
        return NO_VALUE
    labels = invoice_labels(locale)
    day = "1er" if locale == "fr" and value.day == 1 else str(value.day)
    return str(labels["date_format"]).format(
        day=day, month=labels["months"][value.month - 1], year=value.year
    )


@lru_cache(maxsize=1)
def _all_labels() -> dict[str, dict[str, Any]]:
    with (INVOICE_TEMPLATES / "labels.json").open(encoding="utf-8") as handle:
        labels: dict[str, dict[str, Any]] = json.load(handle)
    return labels


def invoice_labels(locale: str) -> dict[str, Any]:
    """The invoice's words in a language (English for one it is not written in)."""
    labels = _all_labels()
    return labels.get(normalize_locale(locale), labels["en"])


def _css_string(value: str) -> Markup:
    """A CSS string literal safe inside <style>: anything but letters, digits and spaces is a
    hex escape, so no quote, backslash or '</style>' can end it early."""
    escaped = "".join(c if c.isalnum() or c == " " else f"\\{ord(c):06x}" for c in value)
    return Markup(f'"{escaped}"')


def _page_counter(template: str) -> Markup:
    """'Page {page} of {pages}' -> "Page " counter(page) " of " counter(pages)."""
    parts: list[str] = []
    rest = template
    while rest:
        start = rest.find("{")
        if start < 0:
            parts.append(_css_string(rest))
            break
        if start:
            parts.append(_css_string(rest[:start]))
        end = rest.index("}", start)
        name = rest[start + 1 : end]
        if name not in ("page", "pages"):
            raise ValueError(f"unknown counter {name!r} in page label")
        parts.append(f"counter({name})")
        rest = rest[end + 1 :]
    return Markup(" ".join(parts))


def text_direction(value: str) -> str:
    """'rtl' when the first strong character is Arabic or Hebrew, else 'ltr'. Names and
    addresses are isolated in their own direction, so '21 Greams Lane' stays in that order on
    an Arabic invoice (WeasyPrint does not resolve dir="auto" itself)."""
    for char in value:
        kind = unicodedata.bidirectional(char)
        if kind in ("R", "AL"):
            return "rtl"
        if kind == "L":
            return "ltr"
    return "ltr"


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(INVOICE_TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["direction"] = text_direction
    return env


def _place(*parts: str | None) -> list[str]:
    return [", ".join(p.strip() for p in parts if p and p.strip())] if any(parts) else []


def render_invoice_html(document: InvoiceDocument) -> str:
    locale = normalize_locale(document.locale)
    labels = invoice_labels(locale)
    currency = document.currency
    totals = {
        "subtotal": format_amount(document.subtotal, locale),
        "discount": format_amount(document.discount, locale) if document.discount else "",
        "tax_rate": format_rate(document.tax_rate) if document.tax_rate else "",
        "tax": format_amount(document.tax, locale),
        "final": format_money(document.final, currency, locale),
    }
    hospital_lines = [document.hospital_address] if document.hospital_address else []
    template = _environment().get_template("invoice.html")
    return template.render(
        doc=document,
        t=labels,
        locale=locale,
        dir="rtl" if locale in RTL_LOCALES else "ltr",
        invoice_date=format_date(document.invoice_date, locale),
        due_date=format_date(document.due_date, locale),
        status=labels.get(f"status_{document.status}", document.status),
        patient_lines=_place(document.patient_city, document.patient_country),
        hospital_lines=[
            *hospital_lines,
            *_place(document.hospital_city, document.hospital_country),
        ],
        items=[
            {"description": item.description, "amount": format_amount(item.amount, locale)}
            for item in document.items
        ],
        totals=totals,
        amounts_in=str(labels["amounts_in"]).format(currency=currency),
        page_counter=_page_counter(str(labels["page"])),
    )


def package_url_fetcher() -> Any:
    from weasyprint.urls import FatalURLFetchingError, URLFetcher

    class PackageFiles(URLFetcher):  # type: ignore[misc]
        """Fetches only our own files (stylesheet, fonts): never the network, never a path
        outside the package. Anything missing stops the render instead of printing tofu."""

        def fetch(self, url: str, headers: Any = None) -> Any:
            parts = urlsplit(url)
            path = Path(url2pathname(parts.path)).resolve() if parts.scheme == "file" else None
            if path is None or not path.is_relative_to(PACKAGE) or not path.is_file():
                raise FatalURLFetchingError(f"invoice resource not allowed: {url}")
            return super().fetch(url, headers)

    return PackageFiles(allowed_protocols={"file"}, fail_on_errors=True)


def render_invoice_pdf_bytes(document: InvoiceDocument) -> bytes:
    """The invoice as a PDF (blocking, CPU-bound: call it from a thread, never on the loop)."""
    from weasyprint import HTML
    from weasyprint.urls import FatalURLFetchingError

    html = HTML(
        string=render_invoice_html(document),
        base_url=INVOICE_TEMPLATES.as_uri() + "/",
        url_fetcher=package_url_fetcher(),
    )
    try:
        pdf = html.write_pdf()
    except FatalURLFetchingError as exc:
        # A BaseException in WeasyPrint: make it an ordinary error for the activity's retries.
        raise RuntimeError(str(exc)) from exc
    if not isinstance(pdf, bytes):
        raise RuntimeError("WeasyPrint returned no PDF")
    return pdf


def _full_name(user: User | None) -> str:
    if user is None:
        return ""
    name = " ".join(p.strip() for p in (user.first_name, user.last_name) if p and p.strip())
    return name or user.email


# Who sells a plan: the platform itself (a subscription's invoice has no treatment provider).
SUBSCRIPTION_SELLER = "Medivoy"


@dataclass(frozen=True)
class _Billed:
    """Whom a subscription's invoice is billed to."""

    user: User | None
    name: str
    city: str | None
    country: str | None


async def _subscriber(session: AsyncSession, subscription_id: uuid.UUID) -> _Billed | None:
    subscription = await session.get(Subscription, subscription_id)
    if subscription is None:
        return None
    user_id = await subscriber_user_id(session, subscription_id)
    user = await session.get(User, user_id) if user_id is not None else None
    if subscription.hospital_id is not None:
        hospital = await session.get(Hospital, subscription.hospital_id)
        if hospital is not None:
            return _Billed(user, hospital.name, hospital.city, hospital.country)
    return _Billed(user, _full_name(user), None, None)


class DocumentActivities:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        storage: Storage,
        *,
        public_base_url: str = "",
    ) -> None:
        self._sessionmaker = sessionmaker
        self._storage = storage
        self._public_base_url = public_base_url

    @activity.defn
    async def load_invoice_document(self, ref: InvoiceRef) -> InvoiceDocument:
        """The invoice, its patient (name, language) and hospital, as the PDF prints them. A
        subscription's invoice is billed to the subscriber (the hospital, or the doctor) in
        their user's language, by Medivoy."""
        async with self._sessionmaker() as session:
            row = (
                await session.execute(
                    select(Invoice, Patient, User, Hospital, Booking.booking_number)
                    .outerjoin(Patient, Patient.id == Invoice.patient_id)
                    .outerjoin(User, User.id == Patient.user_id)
                    .outerjoin(Hospital, Hospital.id == Invoice.hospital_id)
                    .outerjoin(Booking, Booking.id == Invoice.booking_id)
                    .where(Invoice.id == ref.invoice_id)
                )
            ).one_or_none()
            billed: _Billed | None = None
            if row is not None and row[1] is None and row[0].subscription_id is not None:
                billed = await _subscriber(session, row[0].subscription_id)
        if row is None or (row[1] is None and billed is None):
            raise ApplicationError(
                f"invoice {ref.invoice_id} not found", type=INVOICE_NOT_FOUND, non_retryable=True
            )
        invoice, patient, patient_user, hospital, booking_number = row
        user: User | None = patient_user
        if billed is not None:
            user, name, city, country = billed.user, billed.name, billed.city, billed.country
            provider: Hospital | None = None
            provider_name: str | None = SUBSCRIPTION_SELLER
        else:
            name, city, country = _full_name(user), patient.city, patient.country
            provider = hospital
            provider_name = hospital.name if hospital is not None else None
        return InvoiceDocument(
            invoice_id=invoice.id,
            invoice_number=invoice.invoice_number,
            locale=normalize_locale(user.locale if user is not None else None),
            status=invoice.status,
            invoice_date=invoice.invoice_date,
            due_date=invoice.due_date,
            currency=invoice.currency,
            patient_name=name,
            patient_city=city,
            patient_country=country,
            hospital_name=provider_name,
            hospital_address=provider.address if provider is not None else None,
            hospital_city=provider.city if provider is not None else None,
            hospital_country=provider.country if provider is not None else None,
            booking_number=booking_number,
            items=[
                InvoiceLine(description=item.description, amount=item.amount)
                for item in line_items_from_json(invoice.line_items)
            ],
            subtotal=invoice.total_amount,
            discount=invoice.discount_amount,
            tax_rate=invoice.tax_rate,
            tax=invoice.tax_amount,
            final=invoice.final_amount,
            pdf_storage_key=invoice.pdf_storage_key,
        )

    @activity.defn
    def render_invoice_pdf(self, document: InvoiceDocument) -> InvoicePdf:
        """Render and store the PDF, unless it is already stored (then only report it).

        Runs in the worker's thread pool. The storage adapter is asynchronous (boto3 and file
        calls wrapped in threads), so its calls run on a private event loop of this thread:
        the worker's loop is neither blocked nor touched."""
        key = invoice_pdf_key(document.invoice_id)
        file_name = invoice_pdf_file_name(document.invoice_number)
        stored, rendered = store_once(
            self._storage,
            key,
            lambda: render_invoice_pdf_bytes(document),
            PDF_CONTENT_TYPE,
            {"invoice-number": document.invoice_number, "file-name": file_name},
        )
        return InvoicePdf(
            invoice_id=document.invoice_id,
            storage_key=key,
            file_name=file_name,
            content_type=stored.content_type or PDF_CONTENT_TYPE,
            size=stored.size,
            rendered=rendered,
        )

    @activity.defn
    async def record_invoice_pdf(self, pdf: InvoicePdf) -> InvoicePdf:
        """Write the key and the download URL on the invoice; writing them again is a no-op."""
        async with self._sessionmaker() as session, session.begin():
            found = await session.scalar(
                update(Invoice)
                .where(Invoice.id == pdf.invoice_id)
                .values(
                    pdf_storage_key=pdf.storage_key,
                    pdf_url=invoice_pdf_url(self._public_base_url, pdf.invoice_id),
                )
                .returning(Invoice.id)
            )
        if found is None:
            raise ApplicationError(
                f"invoice {pdf.invoice_id} not found", type=INVOICE_NOT_FOUND, non_retryable=True
            )
        return pdf

    @activity.defn
    async def load_invoice_mail(self, ref: InvoiceRef) -> InvoiceMail:
        """Who gets the invoice's e-mail and what it says (activities/invoicing.invoice_mail)."""
        async with self._sessionmaker() as session:
            try:
                return await invoice_mail(session, ref.invoice_id, self._public_base_url)
            except NotFound as missing:
                raise ApplicationError(
                    missing.message, type=INVOICE_NOT_FOUND, non_retryable=True
                ) from None


def document_activity_list(activities: DocumentActivities) -> list[Callable[..., Any]]:
    return [
        activities.load_invoice_document,
        activities.render_invoice_pdf,
        activities.record_invoice_pdf,
        activities.load_invoice_mail,
    ]


def build_document_activities(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], storage: Storage
) -> DocumentActivities:
    return DocumentActivities(sessionmaker, storage, public_base_url=settings.public_base_url)
