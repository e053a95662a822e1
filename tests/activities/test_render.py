"""The notification templates: every message in every language, escaping, secrets, fallbacks."""

from __future__ import annotations

import re

import pytest
from jinja2 import UndefinedError

from activities.render import SUPPORTED_LOCALES, UnknownTemplate, render, resolve_locale

TOKEN = "tok_secret_0123456789"
CONTEXTS: dict[str, dict[str, str]] = {
    "verify_email": {
        "first_name": "Ana",
        "verify_url": f"https://app.medivoy.test/verify-email?token={TOKEN}",
        "token": TOKEN,
    },
    "password_reset": {
        "first_name": "Ana",
        "reset_url": f"https://app.medivoy.test/reset-password?token={TOKEN}",
        "token": TOKEN,
        "minutes": "60",
    },
    "password_changed": {"first_name": "Ana"},
    "email_changed": {"first_name": "Ana"},
    "account_approved": {"first_name": "Ana", "login_url": "https://app.medivoy.test/login"},
    "generic": {"first_name": "Ana", "title": "Clinic update", "message": "Your visa is ready."},
    "invoice_issued": {
        "first_name": "Ana",
        "reference": "MV-BK-2026-000042",
        "invoice_number": "MV-INV-2026-000007",
        "amount": "1180.00",
        "currency": "USD",
        "invoice_url": "https://api.medivoy.test/api/v1/invoices/7/pdf",
    },
    "invoice_sent": {
        "first_name": "Ana",
        "reference": "MV-BK-2026-000042",
        "invoice_number": "MV-INV-2026-000008",
        "amount": "1080.00",
        "currency": "USD",
        "due_date": "2026-05-31",
        "invoice_url": "https://api.medivoy.test/api/v1/invoices/8/pdf",
    },
    "payment_failed": {
        "first_name": "Ana",
        "reference": "MV-BK-2026-000042",
        "reason": "card_declined",
    },
    "payment_reminder": {
        "first_name": "Ana",
        "reference": "MV-INV-2026-000007",
        "amount": "1180.00",
        "currency": "USD",
        "due_date": "2026-05-31",
        "overdue": "yes",
    },
    "prescription_issued": {
        "first_name": "Ana",
        "appointment_number": "MV-AP-2026-00000000000A",
        "doctor_name": "Rahul Mehta",
        "valid_until": "2026-12-31",
        "prescription_url": "https://api.medivoy.test/api/v1/prescriptions/9/pdf",
    },
    # As the appointment's and the waitlist's workflows send them (wall times in the patient's
    # zone, formatted by domain.appointment.local_wall_time).
    "appointment_reminder": {
        "first_name": "Ana",
        "appointment_number": "MV-AP-2026-00000000000B",
        "before": "24h",
        "starts_at": "2026-03-29 10:00",
        "timezone": "Europe/Berlin",
    },
    "appointment_rescheduled": {
        "first_name": "Ana",
        "appointment_number": "MV-AP-2026-00000000000C",
        "starts_at": "2026-04-02 16:30",
        "timezone": "Asia/Kolkata",
    },
    "appointment_status_changed": {
        "first_name": "Ana",
        "appointment_number": "MV-AP-2026-00000000000D",
        "status": "cancelled",
        "reason": "doctor_no_show",
        "next_slots": "2026-04-03 09:00, 2026-04-03 09:30",
        "starts_at": "2026-04-02 16:30",
        "timezone": "Asia/Kolkata",
    },
    "waitlist_offer": {
        "first_name": "Ana",
        "doctor_name": "Rahul Mehta",
        "starts_at": "2026-04-03 09:00",
        "expires_at": "2026-04-02 17:00",
        "timezone": "Asia/Kolkata",
    },
}
PAYMENT_MESSAGES = ("invoice_issued", "invoice_sent", "payment_failed")
APPOINTMENT_MESSAGES = (
    "appointment_reminder",
    "appointment_rescheduled",
    "appointment_status_changed",
    "waitlist_offer",
)
# How each language names a cancelled appointment, and says a doctor's absence is refunded.
CANCELLED = {"en": "cancelled", "ar": "ملغى", "hi": "रद्द", "es": "cancelada", "fr": "annulé"}
REFUNDED_IN_FULL = {
    "en": "refunded in full",
    "ar": "المبلغ كاملًا",
    "hi": "पूरी राशि",
    "es": "importe íntegro",
    "fr": "remboursé intégralement",
}
INVOICE_MESSAGES = ("invoice_issued", "invoice_sent")
# A letter of the language's own script or accents, proof the words are not English.
SCRIPT = {
    "ar": re.compile(r"[\u0600-\u06ff]"),
    "hi": re.compile(r"[\u0900-\u097f]"),
    "es": re.compile(r"[áéíóúñ¿¡]"),
    "fr": re.compile(r"[àâçéèêëîïôûù]"),
}
# How each language says the PDF is attached.
ATTACHED = {
    "en": "attached",
    "ar": "مرفقة",
    "hi": "संलग्न",
    "es": "adjuntamos",
    "fr": "jointe",
}
# How invoice_issued says the payment was received (in its text, then its title): never said
# by invoice_sent.
RECEIVED = {
    "en": ("received your payment", "payment received"),
    "ar": ("استلمنا", "استلام"),
    "hi": ("मिल गया", "प्राप्त"),
    "es": ("hemos recibido", "pago recibido"),
    "fr": ("avons bien reçu", "paiement reçu"),
}
HOSTILE = '<script>alert("x")</script>'


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
@pytest.mark.parametrize("template", sorted(CONTEXTS))
def test_every_message_renders_in_every_language(template: str, locale: str) -> None:
    rendered = render(template, locale, CONTEXTS[template])

    for part in ("subject", "text", "html", "sms", "title", "summary"):
        assert getattr(rendered, part).strip(), f"{template}/{locale} has an empty {part}"
    direction = "rtl" if locale == "ar" else "ltr"
    assert f'<html lang="{locale}" dir="{direction}">' in rendered.html
    assert "Ana" in rendered.text
    assert "\n" not in rendered.subject


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
@pytest.mark.parametrize("template", ["verify_email", "password_reset"])
def test_in_app_summary_never_carries_the_token_or_the_link(template: str, locale: str) -> None:
    rendered = render(template, locale, CONTEXTS[template])

    for visible in (rendered.title, rendered.summary):
        assert TOKEN not in visible
        assert "http" not in visible
    # The e-mail itself does carry the link.
    assert TOKEN in rendered.text and TOKEN in rendered.html


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
@pytest.mark.parametrize("template", sorted(CONTEXTS))
def test_templates_escape_user_data(template: str, locale: str) -> None:
    context = {key: HOSTILE for key in CONTEXTS[template]}

    rendered = render(template, locale, context)

    assert "<script>" not in rendered.html
    assert "&lt;script&gt;" in rendered.html
    # Plain text and SMS are not HTML: they keep the characters as written.
    assert "&lt;" not in rendered.text and "&lt;" not in rendered.sms


def test_regional_locale_uses_its_language_and_unknown_falls_back_to_english() -> None:
    context = CONTEXTS["password_changed"]

    assert render("password_changed", "ar-SA", context).subject == "تم تغيير كلمة المرور"
    assert render("password_changed", "es_MX", context).subject == "Tu contraseña ha cambiado"
    assert render("password_changed", "de", context).subject == "Your password was changed"
    assert render("password_changed", None, context).subject == "Your password was changed"


def test_optional_login_link_is_left_out_when_not_given() -> None:
    rendered = render("account_approved", "en", {"first_name": ""})

    assert "Sign in here" not in rendered.text
    assert rendered.text.startswith("Hello,\n")


def test_unknown_template_is_refused() -> None:
    with pytest.raises(UnknownTemplate):
        render("no_such_message", "en", {})
    with pytest.raises(UnknownTemplate):
        render("../layout", "en", {})


def test_missing_variable_fails_instead_of_sending_a_blank_link() -> None:
    with pytest.raises(UndefinedError):
        render("verify_email", "en", {"first_name": "Ana", "token": TOKEN})


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
@pytest.mark.parametrize("template", PAYMENT_MESSAGES)
def test_payment_messages_are_written_in_every_language(template: str, locale: str) -> None:
    context = CONTEXTS[template]

    rendered = render(template, locale, context)

    assert resolve_locale(template, locale) == locale
    english = render(template, "en", context)
    if locale != "en":
        for part in ("subject", "text", "html", "sms", "title", "summary"):
            assert getattr(rendered, part) != getattr(english, part), f"{part} is English"
        # Every part of Arabic and Hindi is in its script; a Spanish or French title may happen
        # to carry no accent, the body always does.
        if locale in ("ar", "hi"):
            parts: tuple[str, ...] = ("subject", "title", "summary", "sms", "text", "html")
        else:
            parts = ("text", "html")
        for part in parts:
            assert SCRIPT[locale].search(getattr(rendered, part)), f"{part} is not in {locale}"
    direction = "rtl" if locale == "ar" else "ltr"
    assert f'<html lang="{locale}" dir="{direction}">' in rendered.html
    assert context["reference"] in rendered.subject
    for value in context.values():
        assert value in rendered.text
    assert context["reference"] in rendered.sms and context["reference"] in rendered.summary


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
@pytest.mark.parametrize("template", PAYMENT_MESSAGES)
def test_payment_messages_need_every_variable_they_are_given(template: str, locale: str) -> None:
    """The callers' variable set is exactly what each language uses: none missing, none unused
    (first_name may be empty: the greeting then has no name)."""
    for name in CONTEXTS[template]:
        if name == "first_name":
            continue
        context = {k: v for k, v in CONTEXTS[template].items() if k != name}
        with pytest.raises(UndefinedError):
            render(template, locale, context)
    anonymous = render(template, locale, {**CONTEXTS[template], "first_name": ""})
    assert "Ana" not in anonymous.text


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
@pytest.mark.parametrize("template", INVOICE_MESSAGES)
def test_invoice_email_says_the_pdf_is_attached_and_keeps_the_link(
    template: str, locale: str
) -> None:
    context = CONTEXTS[template]

    rendered = render(template, locale, context)

    for body in (rendered.text, rendered.html):
        assert ATTACHED[locale] in body
        assert context["invoice_number"] in body
        assert context["invoice_url"] in body
    assert f'href="{context["invoice_url"]}"' in rendered.html
    # The in-app notification stays free of links.
    assert "http" not in rendered.summary and "http" not in rendered.title


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
@pytest.mark.parametrize("template", INVOICE_MESSAGES)
def test_invoice_email_without_a_link_still_says_it_is_attached(template: str, locale: str) -> None:
    rendered = render(template, locale, {**CONTEXTS[template], "invoice_url": ""})

    assert ATTACHED[locale] in rendered.text
    assert "<a " not in rendered.html
    assert "\n\n\n" not in rendered.text


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_unpaid_invoice_email_tells_the_amount_due_and_never_claims_a_payment(
    locale: str,
) -> None:
    context = CONTEXTS["invoice_sent"]

    sent = render("invoice_sent", locale, context)

    for part in ("subject", "title", "summary", "sms", "text", "html"):
        for phrase in RECEIVED[locale]:
            assert phrase not in getattr(sent, part).lower(), f"{part} claims a payment"
    # The receipt of a payment does say it (the phrases checked above are the right ones).
    receipt = render("invoice_issued", locale, CONTEXTS["invoice_issued"])
    in_text, in_title = RECEIVED[locale]
    assert in_text in receipt.text.lower() and in_title in receipt.title.lower()
    for visible in (sent.text, sent.html, sent.summary, sent.sms):
        assert context["amount"] in visible and context["due_date"] in visible


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_unpaid_invoice_email_without_a_due_date_leaves_the_line_out(locale: str) -> None:
    with_date = render("invoice_sent", locale, CONTEXTS["invoice_sent"])

    rendered = render("invoice_sent", locale, {**CONTEXTS["invoice_sent"], "due_date": ""})

    assert rendered.text.count("\n") == with_date.text.count("\n") - 1
    assert "\n\n\n" not in rendered.text
    bare = render(
        "invoice_sent", locale, {**CONTEXTS["invoice_sent"], "due_date": "", "invoice_url": ""}
    )
    assert "\n\n\n" not in bare.text
    assert CONTEXTS["invoice_sent"]["amount"] in bare.text


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_prescription_email_is_in_the_patients_language_and_says_the_pdf_is_attached(
    locale: str,
) -> None:
    context = CONTEXTS["prescription_issued"]

    rendered = render("prescription_issued", locale, context)

    assert resolve_locale("prescription_issued", locale) == locale
    if locale != "en":
        assert SCRIPT[locale].search(rendered.text) and SCRIPT[locale].search(rendered.html)
    for body in (rendered.text, rendered.html):
        assert ATTACHED[locale] in body
        assert context["prescription_url"] in body
        assert context["valid_until"] in body
    assert context["appointment_number"] in rendered.subject
    # The in-app copy (readable in the database) carries no link.
    assert "http" not in rendered.title + rendered.summary
    for name in context:
        if name not in ("first_name", "valid_until"):
            with pytest.raises(UndefinedError):
                render(
                    "prescription_issued", locale, {k: v for k, v in context.items() if k != name}
                )
    # Without a validity date the sentence is left out.
    assert (
        "2026-12-31"
        not in render("prescription_issued", locale, {**context, "valid_until": ""}).text
    )


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
@pytest.mark.parametrize("template", APPOINTMENT_MESSAGES)
def test_appointment_and_waitlist_messages_are_written_in_the_patients_language(
    template: str, locale: str
) -> None:
    context = CONTEXTS[template]

    rendered = render(template, locale, context)

    assert resolve_locale(template, locale) == locale
    if locale != "en":
        english = render(template, "en", context)
        for part in ("subject", "text", "html", "sms", "title", "summary"):
            assert getattr(rendered, part) != getattr(english, part), f"{part} is English"
        if locale in ("ar", "hi"):
            parts: tuple[str, ...] = ("subject", "title", "summary", "sms", "text", "html")
        else:
            parts = ("text", "html")
        for part in parts:
            assert SCRIPT[locale].search(getattr(rendered, part)), f"{part} is not in {locale}"
    # Every time and its zone reach the patient, in the text, the e-mail and the SMS.
    for name in ("starts_at", "expires_at", "timezone", "appointment_number", "doctor_name"):
        if name in context:
            for body in (rendered.text, rendered.html, rendered.sms):
                assert context[name] in body, f"{name} missing"
    assert "http" not in rendered.title + rendered.summary
    anonymous = render(template, locale, {**context, "first_name": ""})
    assert "Ana" not in anonymous.text


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_a_status_change_names_the_status_and_its_reason_in_the_patients_language(
    locale: str,
) -> None:
    context = CONTEXTS["appointment_status_changed"]

    rendered = render("appointment_status_changed", locale, context)

    for body in (rendered.subject, rendered.text, rendered.html, rendered.sms):
        assert CANCELLED[locale] in body
    for body in (rendered.text, rendered.html, rendered.summary):
        assert REFUNDED_IN_FULL[locale] in body
        assert context["next_slots"] in body
    # Without a reason or free times, neither sentence appears.
    bare = render(
        "appointment_status_changed",
        locale,
        {k: v for k, v in context.items() if k not in ("reason", "next_slots")},
    )
    assert REFUNDED_IN_FULL[locale] not in bare.text and context["next_slots"] not in bare.text
    # A waitlist offer without the doctor's name still reads whole.
    offer = render("waitlist_offer", locale, {**CONTEXTS["waitlist_offer"], "doctor_name": ""})
    assert offer.subject.strip() and "Rahul" not in offer.text
