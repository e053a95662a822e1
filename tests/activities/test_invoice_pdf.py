"""The invoice PDF: real WeasyPrint renders in English, Arabic (right to left) and Hindi that
hold the number, the patient, the items and the totals, drawn only with the fonts we ship; and
the activities that load, render, store and record it once per invoice."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from html import escape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fontTools.ttLib import TTFont
from pypdf import PdfReader
from pypdf.generic import ContentStream
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.documents import (
    FONTS,
    INVOICE_NOT_FOUND,
    INVOICE_TEMPLATES,
    DocumentActivities,
    InvoiceDocument,
    InvoiceLine,
    InvoicePdf,
    InvoiceRef,
    document_activity_list,
    format_amount,
    format_date,
    format_money,
    invoice_labels,
    package_url_fetcher,
    render_invoice_html,
    render_invoice_pdf_bytes,
)
from activities.invoicing import next_invoice_number
from activities.providers.storage import LocalStorage, S3Storage
from domain.invoices import LineItem, compute_invoice, is_invoice_number
from domain.models.bookings import Booking
from domain.models.catalog import Hospital
from domain.models.payments import Invoice
from domain.models.users import Patient, User
from domain.payment import InvoiceStatus
from tests.builders.upload_samples import s3

pytest_plugins = ["tests.fixtures.storage_fixtures"]

D = Decimal


# ---- realistic invoices in three scripts -----------------------------------------------------


@dataclass(frozen=True)
class Case:
    locale: str
    first_name: str
    last_name: str
    items: tuple[tuple[str, Decimal], ...]
    # The grand total as the reader's language writes it.
    total_text: str

    @property
    def patient(self) -> str:
        return f"{self.first_name} {self.last_name}"


ITEMS = (D("8500.00"), D("1250.50"), D("640.00"))
CASES = {
    "en": Case(
        "en",
        "Sarah",
        "O'Connor",
        tuple(
            zip(
                (
                    "Total knee replacement (right)",
                    "Hospital stay, 5 nights",
                    "Physiotherapy, 6 sessions",
                ),
                ITEMS,
                strict=True,
            )
        ),
        "USD 11,906.79",
    ),
    "ar": Case(
        "ar",
        "أمينة",
        "الحسيني",
        tuple(
            zip(
                # Arabic-Indic digits (U+0665, U+0666) on purpose: the fonts must cover them too.
                ("جراحة استبدال الركبة", "إقامة في المستشفى لمدة ٥ ليالٍ", "علاج طبيعي، ٦ جلسات"),  # noqa: RUF001
                ITEMS,
                strict=True,
            )
        ),
        "11,906.79\u00a0USD",
    ),
    "hi": Case(
        "hi",
        "प्रिया",
        "शर्मा",
        tuple(
            zip(
                ("घुटना प्रत्यारोपण सर्जरी", "अस्पताल में 5 रातों का प्रवास", "फिजियोथेरेपी के 6 सत्र"),
                ITEMS,
                strict=True,
            )
        ),
        "USD 11,906.79",
    ),
}


def document_for(case: Case, number: str = "MV-INV-2026-000042") -> InvoiceDocument:
    totals = compute_invoice(
        [LineItem(d, a) for d, a in case.items], discount=D("300.00"), tax_rate=D("18")
    )
    return InvoiceDocument(
        invoice_id=uuid.uuid4(),
        invoice_number=number,
        locale=case.locale,
        status=InvoiceStatus.PAID.value,
        invoice_date=date(2026, 3, 1),
        due_date=date(2026, 3, 15),
        currency="USD",
        patient_name=case.patient,
        patient_city="Dubai",
        patient_country="United Arab Emirates",
        hospital_name="Apollo Hospitals",
        hospital_address="21 Greams Lane",
        hospital_city="Chennai",
        hospital_country="India",
        booking_number="MV-BK-2026-000007",
        items=[InvoiceLine(description=i.description, amount=i.amount) for i in totals.items],
        subtotal=totals.subtotal,
        discount=totals.discount,
        tax_rate=totals.tax_rate,
        tax=totals.tax,
        final=totals.final,
    )


@dataclass(frozen=True)
class Rendered:
    document: InvoiceDocument
    pdf: bytes
    # WeasyPrint's own warnings during the render (it logs every .notdef it draws).
    warnings: list[str]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def render(document: InvoiceDocument) -> Rendered:
    handler = _Collect()
    logger = logging.getLogger("weasyprint")
    logger.addHandler(handler)
    try:
        pdf = render_invoice_pdf_bytes(document)
    finally:
        logger.removeHandler(handler)
    return Rendered(document, pdf, handler.messages)


@pytest.fixture(scope="module")
def rendered() -> dict[str, Rendered]:
    """One render per language for the whole module (a render takes about a second)."""

    class Lazy(dict[str, Rendered]):
        def __missing__(self, locale: str) -> Rendered:
            if locale in CASES:
                result = render(document_for(CASES[locale]))
            else:
                result = render(document_for(CASES["en"]).model_copy(update={"locale": locale}))
            self[locale] = result
            return result

    return Lazy()


# ---- reading the PDF: text, shown glyphs, embedded fonts --------------------------------------


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


@dataclass
class EmbeddedFont:
    # "Medivoy-Devanagari-Bold": the subset tag ("ABCDEF+") removed.
    name: str
    font: TTFont | None
    to_unicode: dict[int, str]


def _to_unicode(font: Any) -> dict[int, str]:
    mapping: dict[int, str] = {}
    if "/ToUnicode" not in font:
        return mapping
    cmap = font["/ToUnicode"].get_object().get_data().decode("latin-1")
    for block in re.findall(r"beginbfchar(.*?)endbfchar", cmap, re.S):
        for gid, text in re.findall(r"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]*)>", block):
            mapping[int(gid, 16)] = bytes.fromhex(text).decode("utf-16-be")
    return mapping


def _fonts(resources: Any) -> dict[str, EmbeddedFont]:
    fonts: dict[str, EmbeddedFont] = {}
    for key, ref in (resources.get("/Font") or {}).items():
        font = ref.get_object()
        name = str(font["/BaseFont"]).lstrip("/").split("+", 1)[-1]
        embedded = None
        if "/DescendantFonts" in font:
            descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object()
            file2 = descriptor.get("/FontFile2")
            if file2 is not None:
                embedded = TTFont(io.BytesIO(file2.get_object().get_data()))
        fonts[key] = EmbeddedFont(name, embedded, _to_unicode(font))
    return fonts


def _code_bytes(operand: Any) -> bytes:
    return bytes(getattr(operand, "original_bytes", operand))


def shown_glyphs(pdf: bytes) -> list[tuple[EmbeddedFont, int]]:
    """Every glyph the pages draw, in content order, with the font it is drawn from
    (WeasyPrint writes Identity-H fonts: two bytes per glyph id)."""
    reader = PdfReader(io.BytesIO(pdf))
    shown: list[tuple[EmbeddedFont, int]] = []

    def walk(contents: Any, resources: Any) -> None:
        fonts = _fonts(resources)
        current: EmbeddedFont | None = None
        for operands, operator in ContentStream(contents, reader).operations:
            if operator == b"Tf":
                current = fonts[operands[0]]
            elif operator in (b"Tj", b"TJ", b"'", b'"'):
                strings = operands[0] if operator == b"TJ" else operands[-1:]
                for item in strings:
                    if isinstance(item, bytes | str) and current is not None:
                        data = _code_bytes(item)
                        shown.extend(
                            (current, int.from_bytes(data[i : i + 2], "big"))
                            for i in range(0, len(data), 2)
                        )
            elif operator == b"Do":
                xobject = resources["/XObject"][operands[0]].get_object()
                if xobject.get("/Subtype") == "/Form":
                    walk(xobject, xobject.get("/Resources", resources))

    for page in reader.pages:
        walk(page.get_contents(), page["/Resources"])
    return shown


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self._skip += tag in ("style", "title")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("style", "title")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.chunks.append(data)


def drawn_text(document: InvoiceDocument) -> str:
    """The text the invoice prints: the body of the rendered HTML and the page footer."""
    parser = _Text()
    parser.feed(render_invoice_html(document))
    return "".join(parser.chunks) + str(invoice_labels(document.locale)["page"])


# The @font-face families of invoice.css and the files behind them.
SHIPPED = {
    "Medivoy-Sans": "NotoSans-Regular.ttf",
    "Medivoy-Sans-Bold": "NotoSans-Bold.ttf",
    "Medivoy-Arabic": "NotoSansArabic-Regular.ttf",
    "Medivoy-Arabic-Bold": "NotoSansArabic-Bold.ttf",
    "Medivoy-Devanagari": "NotoSansDevanagari-Regular.ttf",
    "Medivoy-Devanagari-Bold": "NotoSansDevanagari-Bold.ttf",
}


def shipped_cmap(name: str) -> set[int]:
    return set(TTFont(FONTS / SHIPPED[name]).getBestCmap())


def glyph_problems(result: Rendered) -> list[str]:
    """Everything that would print as tofu (a missing glyph), or print only on this machine.

    1. WeasyPrint logs a warning for each character no font had a glyph for.
    2. Every font in the PDF is embedded and is one of our shipped families: a character our
       fonts lack is not quietly drawn from a system font (which a server may not have).
    3. Every glyph drawn is a real glyph of its embedded font: not .notdef (id 0), not an id
       past the font's last glyph (what WeasyPrint draws for a missing character), and with an
       outline unless it stands for white space (or is a zero-width shaping mark).
    4. Every character of the printed text is in the character map of one of the shipped fonts
       that the PDF embeds."""
    problems = [m for m in result.warnings if ".notdef" in m or "glyphs missing" in m]
    shown = shown_glyphs(result.pdf)
    embedded = {font.name: font for font, _ in shown}
    for name, font in embedded.items():
        if name not in SHIPPED:
            problems.append(f"font {name!r} is not one we ship")
        if font.font is None:
            problems.append(f"font {name!r} is not embedded")
    for font, gid in shown:
        if font.font is None:
            continue
        text = font.to_unicode.get(gid, "")
        if gid == 0:
            problems.append(f".notdef drawn in {font.name} for {text!r}")
            continue
        if gid >= font.font["maxp"].numGlyphs:
            problems.append(f"glyph {gid} is not in {font.name} (for {text!r})")
            continue
        glyph_name = font.font.getGlyphName(gid)
        advance, _ = font.font["hmtx"][glyph_name]
        blank = font.font["glyf"][glyph_name].numberOfContours == 0
        # A blank glyph that takes room prints a hole, unless it stands for a space; blank
        # zero-width marks are the font's own shaping helpers (Devanagari's dummymarkdeva).
        if blank and advance and not (text and text.isspace()):
            problems.append(f"glyph {gid} of {font.name} is blank (for {text!r})")
    covered: set[int] = set()
    for name in embedded.keys() & SHIPPED.keys():
        covered |= shipped_cmap(name)
    for char in sorted(set(drawn_text(result.document))):
        if char.isspace() or char in "\u200e\u200f":
            continue
        if ord(char) not in covered:
            problems.append(f"{char!r} (U+{ord(char):04X}) is in no embedded font")
    return problems


def shaped(text: str, locale: str, *, bold: bool) -> list[tuple[str, int]]:
    """The glyphs WeasyPrint draws for `text` alone, with the invoice's fonts and language."""
    html = (
        f'<html lang="{locale}"><head><link rel="stylesheet" href="invoice.css"></head>'
        f'<body><div style="font-weight: {700 if bold else 400}">{escape(text)}</div></body></html>'
    )
    from weasyprint import HTML

    pdf = HTML(
        string=html, base_url=INVOICE_TEMPLATES.as_uri() + "/", url_fetcher=package_url_fetcher()
    ).write_pdf()
    assert isinstance(pdf, bytes)
    return [(font.name, gid) for font, gid in shown_glyphs(pdf)]


def contains_run(haystack: list[tuple[str, int]], needle: list[tuple[str, int]]) -> bool:
    size = len(needle)
    return any(haystack[i : i + size] == needle for i in range(len(haystack) - size + 1))


# ---- the PDF ----------------------------------------------------------------------------------


def test_the_cases_add_up() -> None:
    for case in CASES.values():
        document = document_for(case)
        assert document.final == D("11906.79")  # (10390.50 - 300.00) * 1.18
        assert format_money(document.final, "USD", case.locale) == case.total_text


@pytest.mark.parametrize("locale", ["en", "ar"])
def test_pdf_text_holds_number_patient_items_and_totals(
    rendered: dict[str, Rendered], locale: str
) -> None:
    case = CASES[locale]
    text = pdf_text(rendered[locale].pdf)
    assert "MV-INV-2026-000042" in text
    assert case.patient in text
    for description, _ in case.items:
        assert description in text
    assert "8,500.00" in text and "1,250.50" in text and "640.00" in text
    assert "10,390.50" in text  # subtotal
    assert "300.00" in text  # discount
    assert "1,816.29" in text  # tax
    assert case.total_text.replace("\u00a0", " ") in text.replace("\u00a0", " ")
    assert str(invoice_labels(locale)["status_paid"]) in text


def test_hindi_pdf_holds_number_patient_items_and_totals(rendered: dict[str, Rendered]) -> None:
    """Latin text (number, amounts) is read back with pypdf. Devanagari is not: a PDF maps
    each glyph to text once per font (ToUnicode), and Devanagari shaping reorders and fuses
    letters (the i-matra drawn before its consonant, the reph above the next one), so any
    extractor reads 'प्रिया शर्मा' back garbled. For those strings we check the drawing
    itself: the exact glyph sequence WeasyPrint shapes for each string alone, with the same
    fonts, appears in the invoice."""
    case = CASES["hi"]
    result = rendered["hi"]
    text = pdf_text(result.pdf)
    assert "MV-INV-2026-000042" in text
    assert "USD 11,906.79" in text  # Indian grouping only starts at a lakh
    assert "10,390.50" in text and "1,816.29" in text and "8,500.00" in text
    drawn = [(font.name, gid) for font, gid in shown_glyphs(result.pdf)]
    assert contains_run(drawn, shaped(case.patient, "hi", bold=True))
    for description, _ in case.items:
        assert contains_run(drawn, shaped(description, "hi", bold=False)), description
    # The check can fail: a name that is not on the invoice is not found.
    assert not contains_run(drawn, shaped("राहुल वर्मा", "hi", bold=True))


@pytest.mark.parametrize("locale", ["en", "ar", "hi", "es", "fr"])
def test_every_character_is_drawn_with_a_glyph_of_the_shipped_fonts(
    rendered: dict[str, Rendered], locale: str
) -> None:
    """See glyph_problems: WeasyPrint reports no .notdef, the PDF embeds only our Noto
    families, every drawn glyph id is a real outlined glyph of its embedded font, and every
    printed character is in one of those fonts' character maps."""
    result = rendered[locale]
    assert glyph_problems(result) == []
    names = {font.name for font, _ in shown_glyphs(result.pdf)}
    if locale == "ar":
        assert {"Medivoy-Arabic", "Medivoy-Arabic-Bold"} <= names
    if locale == "hi":
        assert {"Medivoy-Devanagari", "Medivoy-Devanagari-Bold"} <= names


def test_the_glyph_check_catches_a_script_we_do_not_ship() -> None:
    """Chinese is in none of our fonts: either Pango finds no glyph (.notdef) or it borrows a
    system font; both are reported."""
    document = document_for(CASES["en"]).model_copy(update={"patient_name": "王芳"})
    problems = glyph_problems(render(document))
    assert problems
    assert any("王" in p or "not one we ship" in p or "notdef" in p for p in problems)


def test_arabic_invoice_reads_right_to_left(rendered: dict[str, Rendered]) -> None:
    """The patient's name opens the page on the left in English, on the right in Arabic."""

    def name_x(locale: str) -> float:
        page = PdfReader(io.BytesIO(rendered[locale].pdf)).pages[0]
        name = CASES[locale].patient
        found: list[float] = []

        def visit(text: str, cm: Any, tm: Any, font: Any, size: Any) -> None:
            if name in text:
                found.append(cm[0] * tm[4] + cm[2] * tm[5] + cm[4])

        page.extract_text(visitor_text=visit)
        assert found, f"{name!r} not found"
        return found[0] / float(page.mediabox.width)

    assert 'dir="rtl"' in render_invoice_html(document_for(CASES["ar"]))
    assert name_x("en") < 0.2
    assert name_x("ar") > 0.6


def test_patient_text_is_escaped_not_markup() -> None:
    document = document_for(CASES["en"]).model_copy(
        update={"patient_name": '<img src="file:///etc/passwd"> Eve'}
    )
    html = render_invoice_html(document)
    assert "<img" not in html
    assert "&lt;img src=&#34;file:///etc/passwd&#34;&gt; Eve" in html


def test_every_language_has_every_label() -> None:
    english = invoice_labels("en")
    for locale in ("ar", "hi", "es", "fr"):
        labels = invoice_labels(locale)
        assert labels.keys() == english.keys(), locale
        assert len(labels["months"]) == 12
    for status in InvoiceStatus:
        assert f"status_{status.value}" in english
    assert invoice_labels("ar-SA")["title"] == "فاتورة"
    assert invoice_labels("de")["title"] == "Invoice"


def test_amounts_and_dates_are_written_the_readers_way() -> None:
    amount = D("1234567.5")
    assert format_amount(amount, "en") == "1,234,567.50"
    assert format_amount(amount, "hi") == "12,34,567.50"
    assert format_amount(amount, "es") == "1.234.567,50"
    assert format_amount(D("1500"), "es") == "1500,00"
    assert format_amount(amount, "fr") == "1\u202f234\u202f567,50"
    assert format_amount(amount, "ar") == "1,234,567.50"
    assert format_amount(D("0.005"), "en") == "0.01"
    assert format_money(D("99"), "EUR", "fr") == "99,00\u00a0EUR"
    day = date(2026, 3, 1)
    assert format_date(day, "en") == "1 March 2026"
    assert format_date(day, "fr") == "1er mars 2026"
    assert format_date(day, "es") == "1 de marzo de 2026"
    assert format_date(day, "ar") == "1 مارس 2026"
    assert format_date(day, "hi") == "1 मार्च 2026"


# ---- the activities: load, render and store once, record ------------------------------------


async def add_invoice(
    sessionmaker: async_sessionmaker[AsyncSession], case: Case, *, country: str = "India"
) -> Invoice:
    """A patient in the case's language, a hospital, a booking and its invoice."""
    async with sessionmaker() as db, db.begin():
        user = User(
            email=f"patient-{uuid.uuid4().hex[:8]}@example.com",
            password_hash="x",
            user_type="patient",
            first_name=case.first_name,
            last_name=case.last_name,
            locale=case.locale,
        )
        db.add(user)
        await db.flush()
        patient = Patient(user_id=user.id, city="Dubai", country="United Arab Emirates")
        hospital = Hospital(
            name="Apollo Hospitals", city="Chennai", country=country, address="21 Greams Lane"
        )
        db.add_all([patient, hospital])
        await db.flush()
        booking = Booking(
            booking_number=f"MV-BK-2026-{uuid.uuid4().int % 1_000_000:06d}",
            patient_id=patient.id,
            hospital_id=hospital.id,
        )
        db.add(booking)
        await db.flush()
        totals = compute_invoice(
            [LineItem(d, a) for d, a in case.items], discount=D("300"), tax_rate=D("18")
        )
        invoice = Invoice(
            invoice_number=await next_invoice_number(db, date(2026, 3, 1)),
            booking_id=booking.id,
            patient_id=patient.id,
            hospital_id=hospital.id,
            total_amount=totals.subtotal,
            tax_rate=totals.tax_rate,
            tax_amount=totals.tax,
            discount_amount=totals.discount,
            final_amount=totals.final,
            currency="USD",
            line_items=totals.line_items_json(),
            invoice_date=date(2026, 3, 1),
            due_date=date(2026, 3, 15),
            status=InvoiceStatus.ISSUED.value,
        )
        db.add(invoice)
    return invoice


async def produce_pdf(activities: DocumentActivities, invoice_id: uuid.UUID) -> InvoicePdf | None:
    """What the payment workflow does: load; render and record unless already recorded.
    The render runs in a thread without an event loop, as in the worker's thread pool."""
    env = ActivityEnvironment()
    document = await env.run(activities.load_invoice_document, InvoiceRef(invoice_id=invoice_id))
    if document.pdf_storage_key is not None:
        return None
    pdf = await asyncio.to_thread(env.run, activities.render_invoice_pdf, document)
    return await env.run(activities.record_invoice_pdf, pdf)


@pytest.fixture
def local_storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "files")


async def test_invoice_pdf_is_rendered_in_the_patients_language_stored_and_recorded(
    sessionmaker: async_sessionmaker[AsyncSession], local_storage: LocalStorage
) -> None:
    invoice = await add_invoice(sessionmaker, CASES["ar"])
    activities = DocumentActivities(
        sessionmaker, local_storage, public_base_url="https://medivoy.example/"
    )
    pdf = await produce_pdf(activities, invoice.id)
    assert pdf is not None and pdf.rendered
    assert pdf.storage_key == f"invoices/{invoice.id}"
    assert pdf.file_name == f"{invoice.invoice_number}.pdf"
    assert pdf.content_type == "application/pdf"
    stored = await local_storage.get(pdf.storage_key)
    assert stored.startswith(b"%PDF-") and pdf.size == len(stored)
    text = pdf_text(stored)
    assert invoice.invoice_number in text
    assert "أمينة الحسيني" in text
    assert "جراحة استبدال الركبة" in text
    assert "11,906.79 USD" in text.replace("\u00a0", " ")
    async with sessionmaker() as db:
        row = await db.get(Invoice, invoice.id)
        assert row is not None
        assert row.pdf_storage_key == pdf.storage_key
        assert row.pdf_url == f"https://medivoy.example/api/v1/invoices/{invoice.id}/pdf"


async def test_second_request_reuses_the_stored_pdf(
    sessionmaker: async_sessionmaker[AsyncSession], local_storage: LocalStorage
) -> None:
    invoice = await add_invoice(sessionmaker, CASES["hi"])
    activities = DocumentActivities(sessionmaker, local_storage)
    first = await produce_pdf(activities, invoice.id)
    assert first is not None
    path = local_storage.root / first.storage_key
    before = (path.read_bytes(), path.stat().st_mtime_ns)

    env = ActivityEnvironment()
    document = await env.run(activities.load_invoice_document, InvoiceRef(invoice_id=invoice.id))
    assert document.pdf_storage_key == first.storage_key
    assert document.locale == "hi" and document.patient_name == "प्रिया शर्मा"
    # Even asked to render again (a retry after a lost reply), it does not.
    again = await asyncio.to_thread(env.run, activities.render_invoice_pdf, document)
    assert again.rendered is False
    assert again.model_dump(exclude={"rendered"}) == first.model_dump(exclude={"rendered"})
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert await produce_pdf(activities, invoice.id) is None


async def test_pdf_stored_before_a_crash_is_recorded_without_rendering_again(
    sessionmaker: async_sessionmaker[AsyncSession], local_storage: LocalStorage
) -> None:
    invoice = await add_invoice(sessionmaker, CASES["en"])
    activities = DocumentActivities(sessionmaker, local_storage)
    env = ActivityEnvironment()
    document = await env.run(activities.load_invoice_document, InvoiceRef(invoice_id=invoice.id))
    stored = await asyncio.to_thread(env.run, activities.render_invoice_pdf, document)
    # The worker died here: the object is in storage, the row does not know it yet.
    retried = await produce_pdf(activities, invoice.id)
    assert retried is not None
    assert retried.rendered is False and retried.storage_key == stored.storage_key
    async with sessionmaker() as db:
        row = await db.get(Invoice, invoice.id)
        assert row is not None and row.pdf_storage_key == stored.storage_key


async def test_invoice_pdf_goes_to_s3(
    sessionmaker: async_sessionmaker[AsyncSession], moto_endpoint: str, s3_bucket: str
) -> None:
    invoice = await add_invoice(sessionmaker, CASES["en"])
    activities = DocumentActivities(sessionmaker, S3Storage(s3(moto_endpoint), s3_bucket))
    pdf = await produce_pdf(activities, invoice.id)
    assert pdf is not None
    head = s3(moto_endpoint).head_object(Bucket=s3_bucket, Key=pdf.storage_key)
    assert head["ContentType"] == "application/pdf"
    assert head["ContentLength"] == pdf.size


async def test_unknown_invoice_fails_without_retries(
    sessionmaker: async_sessionmaker[AsyncSession], local_storage: LocalStorage
) -> None:
    activities = DocumentActivities(sessionmaker, local_storage)
    env = ActivityEnvironment()
    missing = uuid.uuid4()
    with pytest.raises(ApplicationError) as caught:
        await env.run(activities.load_invoice_document, InvoiceRef(invoice_id=missing))
    assert caught.value.type == INVOICE_NOT_FOUND and caught.value.non_retryable
    pdf = InvoicePdf(
        invoice_id=missing,
        storage_key=f"invoices/{missing}",
        file_name="x.pdf",
        size=1,
        rendered=True,
    )
    with pytest.raises(ApplicationError):
        await env.run(activities.record_invoice_pdf, pdf)


async def test_invoice_numbers_come_from_the_sequence(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as db:
        first = await next_invoice_number(db, date(2026, 12, 31))
        second = await next_invoice_number(db, date(2027, 1, 1))
    assert is_invoice_number(first) and is_invoice_number(second)
    assert first.startswith("MV-INV-2026-") and second.startswith("MV-INV-2027-")
    assert int(second.rsplit("-", 1)[1]) == int(first.rsplit("-", 1)[1]) + 1


def test_worker_registers_the_document_activities(local_storage: LocalStorage) -> None:
    activities = DocumentActivities(None, local_storage)  # type: ignore[arg-type]
    names = [fn.__name__ for fn in document_activity_list(activities)]
    assert names == [
        "load_invoice_document",
        "render_invoice_pdf",
        "record_invoice_pdf",
        "load_invoice_mail",
    ]
