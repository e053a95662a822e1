"""Renders a notification template in the recipient's language: e-mail, SMS and in-app parts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, pass_context
from jinja2.runtime import Context

TEMPLATES = Path(__file__).resolve().parent / "templates"
DEFAULT_LOCALE = "en"
SUPPORTED_LOCALES = ("en", "ar", "hi", "es", "fr")
RTL_LOCALES = frozenset({"ar"})
# Each message is <locale>/<name>.txt (subject, title, summary, sms, text as {% set %} blocks)
# and <locale>/<name>.html (the e-mail body, extending layout.html).
TEXT_PARTS = ("subject", "title", "summary", "sms", "text")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class UnknownTemplate(LookupError):
    """No such message in any language: a programming error, never worth a retry."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    sms: str
    # The in-app notification (notifications.title / notifications.message): readable by anyone
    # with database access, so templates keep secrets (tokens, links) out of these two.
    title: str
    summary: str


@pass_context
def _money(context: Context, amount: object, currency: object) -> str:
    """`{{ amount|money(currency) }}`: the amount as the message's language writes money
    ('USD 1,180.00', '1 180,00 USD'); a value that is no amount is shown as it came."""
    from activities.documents import format_money

    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return f"{amount} {currency}".strip()
    if not value.is_finite():
        return f"{amount} {currency}".strip()
    return format_money(value, str(currency), str(context.get("locale", DEFAULT_LOCALE)))


@pass_context
def _day(context: Context, value: object) -> str:
    """`{{ iso_date|day }}`: '2026-05-31' as the language writes a date ('31 May 2026',
    '31 mai 2026'); a value that is no ISO date is shown as it came."""
    from activities.documents import format_date

    try:
        parsed = date.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return format_date(parsed, str(context.get("locale", DEFAULT_LOCALE)))


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        # Only the .html parts are markup; subjects, SMS and plain text must stay unescaped.
        autoescape=lambda name: name is not None and name.endswith(".html"),
        # A missing variable fails the render instead of mailing a blank link.
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["money"] = _money
    env.filters["day"] = _day
    return env


def normalize_locale(locale: str | None) -> str:
    """'ar-SA', 'AR_sa' and 'ar' all mean Arabic; anything unsupported means English."""
    if not locale:
        return DEFAULT_LOCALE
    language = re.split(r"[-_]", locale.strip().lower(), maxsplit=1)[0]
    return language if language in SUPPORTED_LOCALES else DEFAULT_LOCALE


def _exists(name: str) -> bool:
    return (TEMPLATES / name).is_file()


def resolve_locale(template: str, locale: str | None) -> str:
    """The language the message will actually be written in (English when untranslated)."""
    if not _NAME.match(template):
        raise UnknownTemplate(f"invalid template name {template!r}")
    for candidate in dict.fromkeys((normalize_locale(locale), DEFAULT_LOCALE)):
        if _exists(f"{candidate}/{template}.txt") and _exists(f"{candidate}/{template}.html"):
            return candidate
    raise UnknownTemplate(f"no template {template!r}")


def render(template: str, locale: str | None, context: Mapping[str, str]) -> Rendered:
    language = resolve_locale(template, locale)
    env = _environment()
    variables: dict[str, object] = {"first_name": "", **context}
    variables["locale"] = language
    variables["dir"] = "rtl" if language in RTL_LOCALES else "ltr"
    try:
        module = env.get_template(f"{language}/{template}.txt").make_module(variables)
        parts = {part: str(getattr(module, part)).strip() for part in TEXT_PARTS}
        html = env.get_template(f"{language}/{template}.html").render(
            variables, subject=parts["subject"]
        )
    except TemplateNotFound as exc:
        raise UnknownTemplate(f"template {template!r} is incomplete: {exc.name}") from None
    except AttributeError as exc:
        raise UnknownTemplate(f"template {template!r} ({language}) lacks a part: {exc}") from None
    return Rendered(
        subject=_one_line(parts["subject"]),
        text=parts["text"] + "\n",
        html=html.strip() + "\n",
        sms=parts["sms"],
        title=_one_line(parts["title"]),
        summary=parts["summary"],
    )


def _one_line(value: str) -> str:
    # Subjects and titles may come from people (generic notifications): no line breaks.
    return " ".join(value.split())
