"""The notification templates: every message in every language, escaping, secrets, fallbacks."""

from __future__ import annotations

import pytest
from jinja2 import UndefinedError

from activities.render import SUPPORTED_LOCALES, UnknownTemplate, render

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
    "account_approved": {"first_name": "Ana", "login_url": "https://app.medivoy.test/login"},
    "generic": {"first_name": "Ana", "title": "Clinic update", "message": "Your visa is ready."},
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
