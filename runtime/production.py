"""The production checks: `medivoy api` and `medivoy worker` refuse to start with an unsafe setting.

They apply when MEDIVOY_ENV is production, prod or staging (Settings.is_production). Each problem
is one sentence naming the variable and what to do; all of them are reported at once.
"""

from __future__ import annotations

import hmac
import logging

from domain.passwords import STRONG
from runtime.settings import Settings
from runtime.stack import JWT_SECRET_FILE

MIN_JWT_SECRET_CHARS = 32


class UnsafeSettings(Exception):
    """The settings are not fit for production; str() lists every problem, one per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(f"  - {p}" for p in problems))
        self.problems = problems


def _dev_secret(settings: Settings) -> str | None:
    path = settings.data_dir / JWT_SECRET_FILE
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def production_problems(settings: Settings) -> list[str]:
    """What is missing or unsafe for production ([] when fine, or when not in production)."""
    if not settings.is_production:
        return []
    problems: list[str] = []
    if not settings.database_url:
        problems.append(
            "MEDIVOY_DATABASE_URL is not set: production never starts the embedded PostgreSQL"
        )
    if not settings.temporal_address:
        problems.append(
            "MEDIVOY_TEMPORAL_ADDRESS is not set: production never starts the Temporal dev server"
        )
    secret = settings.jwt_secret.get_secret_value()
    if not secret:
        problems.append(
            "MEDIVOY_JWT_SECRET is not set: give every API replica the same random secret "
            f"of at least {MIN_JWT_SECRET_CHARS} characters (e.g. `openssl rand -base64 48`)"
        )
    else:
        dev = _dev_secret(settings)
        if dev is not None and hmac.compare_digest(dev.encode(), secret.encode()):
            problems.append(
                "MEDIVOY_JWT_SECRET is the secret `medivoy dev` generated into "
                f"{settings.data_dir / JWT_SECRET_FILE}: generate a new one for production"
            )
        elif len(secret) < MIN_JWT_SECRET_CHARS:
            problems.append(
                f"MEDIVOY_JWT_SECRET is {len(secret)} characters long: use at least "
                f"{MIN_JWT_SECRET_CHARS} random ones"
            )
    if not settings.payload_keys:
        problems.append(
            "MEDIVOY_PAYLOAD_KEYS is not set: production encrypts every Temporal payload "
            '(medical details); set {"<key id>": "<base64 of 32 random bytes>"} '
            "(e.g. `openssl rand -base64 32`), the same on every API and worker replica"
        )
    if any(origin.strip() == "*" for origin in settings.codec_cors_origins):
        problems.append(
            'MEDIVOY_CODEC_CORS_ORIGINS contains "*": list the Temporal UI\'s origin instead '
            "(the codec endpoint decrypts medical data)"
        )
    codec_token = settings.codec_token.get_secret_value()
    if codec_token and len(codec_token) < MIN_JWT_SECRET_CHARS:
        problems.append(
            f"MEDIVOY_CODEC_TOKEN is {len(codec_token)} characters long: use at least "
            f"{MIN_JWT_SECRET_CHARS} random ones, or unset it (staff tokens only)"
        )
    if any(origin.strip() == "*" for origin in settings.cors_origins):
        problems.append(
            'MEDIVOY_CORS_ORIGINS contains "*": list the front-end origins instead '
            '(e.g. ["https://app.medivoy.com"]); the API sends credentials'
        )
    if logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO) <= (
        logging.DEBUG
    ):
        problems.append(
            f"MEDIVOY_LOG_LEVEL is {settings.log_level}: at DEBUG the HTTP, database and "
            "provider libraries log request and response bodies (personal data); use INFO"
        )
    cost = settings.password_hash_cost
    if cost.time_cost < STRONG.time_cost or cost.memory_kib < STRONG.memory_kib:
        problems.append(
            "MEDIVOY_PASSWORD_HASH_TIME_COST / _MEMORY_KIB lower the argon2id cost below the "
            f"production profile ({STRONG.time_cost} / {STRONG.memory_kib} KiB): unset them"
        )
    return problems


def check_production(settings: Settings) -> None:
    problems = production_problems(settings)
    if problems:
        raise UnsafeSettings(problems)
