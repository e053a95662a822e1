"""The notification templates: every message in every language, escaping, secrets, fallbacks."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from jinja2 import UndefinedError, meta

from activities.documents import format_date, format_money
from activities.render import (
    SUPPORTED_LOCALES,
    TEMPLATES,
    UnknownTemplate,
    _environment,
    render,
    resolve_locale,
)
from domain import subscription_messages as says
from domain.subscription import DeclineAction

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
# What SubscriptionWorkflow sends (domain/subscription_messages.py builds every context), one
# case per branch of each message; the first of each template joins CONTEXTS.
PERIOD_END = date(2027, 3, 31)
GRACE_ENDS = date(2027, 4, 14)
RETRY_ON = date(2027, 4, 1)
INVOICE = {
    "invoice_number": "MV-INV-2027-000031",
    "invoice_url": "https://api.medivoy.test/api/v1/invoices/31/pdf",
}
SUBSCRIPTION_CASES: dict[str, tuple[str, dict[str, str]]] = {
    "activated": (
        says.ACTIVATED,
        {
            **says.activated("Standard", Decimal("1234.50"), "USD", PERIOD_END)[1],
            **INVOICE,
        },
    ),
    "reminder": says.reminder("Standard", Decimal("1234.50"), "EUR", PERIOD_END, "4242"),
    "renewed": (
        says.RENEWED,
        {**says.renewed("Standard", Decimal("1234.50"), "USD", PERIOD_END, "4242")[1], **INVOICE},
    ),
    "renewed_without_invoice": says.renewed(
        "Standard", Decimal("1234.50"), "USD", PERIOD_END, None
    ),
    "declined_retry": says.renewal_failed(
        "Standard",
        Decimal("1234.50"),
        "USD",
        DeclineAction.RETRY,
        "insufficient_funds",
        RETRY_ON,
        GRACE_ENDS,
    ),
    "declined_expired_card": says.renewal_failed(
        "Standard", Decimal("1234.50"), "USD", DeclineAction.ASK, "expired_card", None, GRACE_ENDS
    ),
    "declined_authentication": says.renewal_failed(
        "Standard",
        Decimal("1234.50"),
        "USD",
        DeclineAction.ASK,
        "authentication_required",
        None,
        GRACE_ENDS,
    ),
    "declined_no_method": says.renewal_failed(
        "Standard",
        Decimal("1234.50"),
        "USD",
        DeclineAction.ASK,
        "payment_method_missing",
        None,
        GRACE_ENDS,
    ),
    "declined_card_details": says.renewal_failed(
        "Standard", Decimal("1234.50"), "USD", DeclineAction.ASK, "incorrect_cvc", None, GRACE_ENDS
    ),
    "declined_stolen": says.renewal_failed(
        "Standard", Decimal("1234.50"), "USD", DeclineAction.STOP, "stolen_card", None, GRACE_ENDS
    ),
    "cancelled_at_period_end": says.cancelled("Standard", PERIOD_END, None, "USD"),
    "cancelled_now_refunded": says.cancelled("Standard", None, Decimal("1234.50"), "USD"),
    "cancelled_now": says.cancelled("Standard", None, None, "USD"),
    "ended": says.ended("Standard", "ended", PERIOD_END),
    "expired": says.ended("Standard", "expired", GRACE_ENDS),
    "not_started": says.ended("Standard", "not_started", PERIOD_END),
    "upgraded": (
        says.CHANGED,
        {
            **says.changed("Premium", "upgraded", Decimal("1234.50"), "USD", PERIOD_END, "monthly")[
                1
            ],
            **INVOICE,
        },
    ),
    "downgrade_scheduled": says.changed(
        "Basic", "scheduled", Decimal("1234.50"), "USD", PERIOD_END, "yearly"
    ),
}
for _template, _context in SUBSCRIPTION_CASES.values():
    CONTEXTS.setdefault(_template, {"first_name": "Ana", **_context})
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
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


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


def test_every_subscription_message_has_a_template_in_every_language() -> None:
    for template in says.KEYS:
        for locale in SUPPORTED_LOCALES:
            for part in ("txt", "html"):
                assert (TEMPLATES / locale / f"{template}.{part}").is_file(), (template, locale)


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
@pytest.mark.parametrize("template", sorted(says.KEYS))
def test_subscription_templates_use_exactly_the_variables_the_workflow_gives(
    template: str, locale: str
) -> None:
    """No language needs a variable the workflow does not send (it would fail at sending), and
    none leaves out one it sends."""
    env = _environment()
    used: set[str] = set()
    for part in ("txt", "html"):
        source = (TEMPLATES / locale / f"{template}.{part}").read_text(encoding="utf-8")
        used |= meta.find_undeclared_variables(env.parse(source))
    macros = {"greeting", "regards", "team", "footer"}
    assert used - macros - {"first_name", "locale", "dir", "subject"} == says.KEYS[template]


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
@pytest.mark.parametrize("case", sorted(SUBSCRIPTION_CASES))
def test_subscription_messages_are_written_in_the_subscribers_language(
    case: str, locale: str
) -> None:
    template, context = SUBSCRIPTION_CASES[case]

    rendered = render(template, locale, {"first_name": "Ana", **context})

    assert resolve_locale(template, locale) == locale
    direction = "rtl" if locale == "ar" else "ltr"
    assert f'<html lang="{locale}" dir="{direction}">' in rendered.html
    if locale != "en":
        english = render(template, "en", {"first_name": "Ana", **context})
        for part in ("subject", "text", "html", "sms", "title", "summary"):
            assert getattr(rendered, part) != getattr(english, part), f"{part} is English"
        parts: tuple[str, ...] = (
            ("subject", "title", "summary", "sms", "text", "html")
            if locale in ("ar", "hi")
            else ("text", "html")
        )
        for part in parts:
            assert SCRIPT[locale].search(getattr(rendered, part)), f"{part} is not in {locale}"
    for part in ("subject", "text", "html", "sms", "title", "summary"):
        assert getattr(rendered, part).strip(), f"{part} is empty"
        # Nothing unformatted slips through: no ISO date, no bare amount.
        assert not ISO_DATE.search(getattr(rendered, part)), part
        assert "1234.50" not in getattr(rendered, part), part
    assert context["plan"] in rendered.text and context["plan"] in rendered.html
    assert "Ana" in rendered.text
    amount = context.get("refund") or context.get("amount")
    if amount and context.get("action") != "stop":
        money = format_money(Decimal(amount), context["currency"], locale)
        assert money in rendered.text and money in rendered.html.replace("&nbsp;", "\u00a0")
    for name in ("period_end", "renews_on", "grace_ends", "retry_on", "ends_on", "end_date"):
        if context.get(name) and not (
            template == says.ENDED and context["reason"] == "not_started"
        ):
            day = format_date(date.fromisoformat(context[name]), locale)
            assert day in rendered.text and day in rendered.html, name
    if context.get("last4"):
        # The reminder names the card everywhere (the in-app line and the SMS too).
        shown = ("summary", "sms", "text", "html") if template == says.REMINDER else ("text",)
        for part in shown:
            assert "4242" in getattr(rendered, part), part
    if context.get("invoice_number"):
        assert ATTACHED[locale] in rendered.text.lower() or ATTACHED[locale] in rendered.text
        assert context["invoice_number"] in rendered.text
        assert context["invoice_url"] in rendered.text and context["invoice_url"] in rendered.html
    elif template in says.WITH_INVOICE:
        assert ATTACHED[locale] not in rendered.text


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_each_decline_that_asks_to_act_says_its_own_what_to_do(locale: str) -> None:
    """An expired card, an authentication and a missing or refused card are told apart; a
    retry says when, a stop says the card is not charged again."""
    cases = (
        "declined_expired_card",
        "declined_authentication",
        "declined_no_method",
        "declined_card_details",
        "declined_retry",
        "declined_stolen",
    )
    texts = {
        case: render(SUBSCRIPTION_CASES[case][0], locale, SUBSCRIPTION_CASES[case][1]).text
        for case in cases
    }
    assert len(set(texts.values())) == len(cases)
    # The ask-to-act messages share their ending (the grace date) and differ in what to do.
    asks = [texts[c] for c in cases[:4]]
    what_to_do = [t.split("\n\n")[2] for t in asks]
    assert len(set(what_to_do)) == 4
    assert format_date(RETRY_ON, locale) in texts["declined_retry"]
    assert format_date(RETRY_ON, locale) not in texts["declined_stolen"]
    assert "stolen_card" in texts["declined_stolen"]
