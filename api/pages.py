"""The few pages people open in a browser: the root (where the docs, the health checks and the
Temporal UI are) and the landing pages of the links the platform e-mails.

A link's page never acts on the GET that opens it (a mail scanner follows links): it shows a
button, and the action is the form's POST, through the same service code as the JSON API. These
pages are not part of the API's OpenAPI document. A deployment with its own frontend points
MEDIVOY_PUBLIC_BASE_URL at it, and the e-mailed links go there instead.
"""

from __future__ import annotations

from html import escape
from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from api.deps import DbSession, SettingsDep, Temporal, rate_limited
from api.schemas.auth import ResetPasswordRequest, TokenRequest
from api.services import auth as service
from api.services import notifications as notices
from domain.errors import DomainError

router = APIRouter(include_in_schema=False)
Limited = [Depends(rate_limited())]
API = "/api/v1"

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;"
    "line-height:1.5}button{font-size:1rem;padding:.5rem 1.2rem}input{font-size:1rem;"
    "padding:.4rem;width:100%;box-sizing:border-box;margin:.2rem 0 .8rem}"
    ".error{color:#a40000}"
)


def _page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{escape(title)} · Medivoy</title>'
        f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(
        html,
        status_code=status_code,
        # The token is in the address: no caching, no referrer carrying it elsewhere.
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _problem(exc: ValidationError | DomainError) -> str:
    if isinstance(exc, DomainError):
        return exc.message
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
    )


@router.get("/")
async def root(settings: SettingsDep) -> HTMLResponse:
    ui = settings.temporal_ui_url
    ui_line = (
        f'<li>Temporal UI (workflows and their histories): <a href="{escape(ui)}">'
        f"{escape(ui)}</a></li>"
        if ui
        else "<li>Temporal UI: wherever your Temporal server serves it</li>"
    )
    return _page(
        "Medivoy API",
        "<p>The Medivoy medical-tourism platform's API.</p><ul>"
        '<li>API documentation: <a href="/docs">/docs</a> (OpenAPI: '
        '<a href="/openapi.json">/openapi.json</a>)</li>'
        f'<li>Health: <a href="{API}/health">{API}/health</a>, '
        f'<a href="{API}/health/services">{API}/health/services</a></li>'
        f"{ui_line}</ul>",
    )


def _token_form(action: str, token: str, button: str, extra: str = "") -> str:
    return (
        f'<form method="post" action="{action}">'
        f'<input type="hidden" name="token" value="{escape(token, quote=True)}">'
        f'{extra}<button type="submit">{escape(button)}</button></form>'
    )


@router.get("/verify-email")
async def verify_email_page(token: str = "") -> HTMLResponse:
    if not token:
        return _page("Verify your e-mail", "<p class=error>This link has no token.</p>", 400)
    return _page(
        "Verify your e-mail",
        "<p>Confirm that this e-mail address is yours.</p>"
        + _token_form("/verify-email", token, "Verify my e-mail"),
    )


@router.post("/verify-email", dependencies=Limited)
async def verify_email(
    token: Annotated[str, Form()], db: DbSession, settings: SettingsDep, temporal: Temporal
) -> HTMLResponse:
    try:
        checked = TokenRequest(token=token)
        verified = await service.verify_email(db, checked.token)
        await db.commit()
    except (ValidationError, DomainError) as exc:
        return _page("Verify your e-mail", f"<p class=error>{escape(_problem(exc))}</p>", 400)
    await notices.email_confirmed(temporal, settings, verified)
    return _page("E-mail verified", "<p>Thank you: your e-mail address is verified.</p>")


RESET_FIELDS = (
    '<label>New password <input type="password" name="password" autocomplete="new-password" '
    "required></label>"
    '<label>The same again <input type="password" name="confirm" autocomplete="new-password" '
    "required></label>"
)


@router.get("/reset-password")
async def reset_password_page(token: str = "") -> HTMLResponse:
    if not token:
        return _page("Choose a new password", "<p class=error>This link has no token.</p>", 400)
    return _page(
        "Choose a new password",
        _token_form("/reset-password", token, "Change my password", RESET_FIELDS),
    )


@router.post("/reset-password", dependencies=Limited)
async def reset_password(
    token: Annotated[str, Form()],
    password: Annotated[str, Form()],
    confirm: Annotated[str, Form()],
    db: DbSession,
    settings: SettingsDep,
    temporal: Temporal,
) -> HTMLResponse:
    def again(message: str) -> HTMLResponse:
        return _page(
            "Choose a new password",
            f"<p class=error>{escape(message)}</p>"
            + _token_form("/reset-password", token, "Change my password", RESET_FIELDS),
            400,
        )

    if password != confirm:
        return again("The two passwords differ.")
    try:
        checked = ResetPasswordRequest(token=token, password=password)
        user = await service.reset_password(db, checked.token, checked.password)
        await db.commit()
    except (ValidationError, DomainError) as exc:
        return again(_problem(exc))
    await notices.send_password_changed(temporal, settings, user)
    return _page("Password changed", "<p>Your password is changed. Log in with the new one.</p>")
