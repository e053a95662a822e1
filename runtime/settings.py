"""Every setting of Medivoy, read from MEDIVOY_* environment variables (and an optional .env)."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.appointment import DEFAULT_REFUND_POLICY as DEFAULT_APPOINTMENT_REFUND_POLICY
from domain.appointment import QuietHours, parse_offsets
from domain.appointment import check_refund_policy as check_appointment_refund_policy
from domain.availability import check_timezone
from domain.booking import DEFAULT_CANCELLATION_REFUND_PERCENT, check_refund_policy
from domain.passwords import STRONG, HashCost
from runtime.codec import EncryptionCodec, codec_from_settings, parse_key

# MEDIVOY_ENV values that turn on the production checks (runtime/production.py).
PRODUCTION_ENVS = frozenset({"production", "prod", "staging"})
# The worker's workflow cache, chosen by `make bench` (see worker_max_cached_workflows).
WORKER_CACHE_DEFAULT = 250


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MEDIVOY_", env_file=".env", extra="ignore", case_sensitive=False
    )

    env: str = "development"
    data_dir: Path = Path(".medivoy")

    # Empty means "start the embedded one" (medivoy dev) or "not configured".
    database_url: str = ""
    # A new PostgreSQL connection not made within this is a 503 DATABASE_UNAVAILABLE (the
    # driver waits 60 s by default).
    database_connect_timeout_seconds: float = Field(default=5, gt=0)
    temporal_address: str = ""
    temporal_namespace: str = "default"
    task_queue: str = "medivoy"
    redis_url: str = ""
    # How long the API waits for any workflow call (then 503, rule 11).
    workflow_deadline_seconds: float = Field(default=5, gt=0)
    # A worker whose newest poll is older than this is stale (an idle poll lasts about a minute).
    worker_stale_seconds: float = Field(default=90, gt=0)
    # Tasks waiting on the queue longer than this mean no worker takes them (a frozen one still
    # looks listed): stale sooner. The server refreshes its backlog figures every few seconds.
    worker_backlog_stale_seconds: float = Field(default=20, gt=0)
    # Workflows the worker keeps in memory between their tasks (the SDK's sticky cache; its
    # default is 1,000). Measured by `make bench` (bench/README.md): about 1 MiB each for a
    # booking, and a move on an evicted one replays its short history in milliseconds.
    worker_max_cached_workflows: int = Field(default=WORKER_CACHE_DEFAULT, ge=0)
    # Run workflows in the SDK's sandbox (a fresh import of their modules for every run); off:
    # every run shares the modules imported once (worker.workflow_runner_for, bench/README.md).
    worker_workflow_sandbox: bool = False

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # At start, build every route's request handling (FastAPI builds it lazily, on the first
    # request reaching each router: about 0.6 s of CPU for this API, paid by the first caller)
    # and open the first database connection, then freeze what start made out of the garbage
    # collector's full collections (api.app.warm_start).
    api_warm_start: bool = True
    public_base_url: str = "http://127.0.0.1:8000"
    temporal_ui_port: int = 8233
    # Where people open the Temporal UI (linked from GET /); `medivoy dev` sets its own.
    temporal_ui_url: str = ""
    temporal_port: int = 7233
    postgres_port: int = 5433

    jwt_secret: SecretStr = SecretStr("")
    jwt_algorithm: str = "HS256"
    access_token_minutes: int = 15
    refresh_token_days: int = 7
    verification_token_hours: int = 48
    reset_token_minutes: int = 60
    # argon2id's cost for new password hashes. Keep the defaults (RFC 9106's low-memory profile)
    # in production; the tests lower them, since every test account hashes a password.
    password_hash_time_cost: int = Field(default=STRONG.time_cost, ge=1)
    password_hash_memory_kib: int = Field(default=STRONG.memory_kib, ge=8)
    password_hash_parallelism: int = Field(default=STRONG.parallelism, ge=1)

    # Payload encryption in Temporal (runtime/codec.py): key id -> base64 of 32 random bytes, a
    # JSON object; MEDIVOY_PAYLOAD_KEY_ID's key seals new payloads, every key listed opens old
    # ones (rotate by adding a key and pointing the id at it). Production refuses to start
    # without one; `medivoy dev` generates one into <data dir>/payload_keys.json.
    payload_keys: dict[str, SecretStr] = Field(default_factory=dict)
    payload_key_id: str = ""
    # The codec endpoint (/api/v1/codec/{encode,decode}) that lets the Temporal UI and CLI read
    # payloads: the UI's browser origins allowed by CORS there (only there), and a dedicated
    # bearer token for it (besides staff access tokens); empty: staff tokens only.
    codec_cors_origins: list[str] = Field(default_factory=list)
    codec_token: SecretStr = SecretStr("")

    cors_origins: list[str] = Field(default_factory=list)
    max_body_bytes: int = 1_048_576
    auth_rate_limit: str = "10/minute"
    # Failed logins per account (the e-mail), whatever address they come from.
    login_account_rate_limit: str = "10/minute"
    # Addresses or networks (CIDR) of the reverse proxies whose X-Forwarded-For is believed;
    # empty: the client is the socket peer and forwarding headers are ignored.
    trusted_proxies: list[str] = Field(default_factory=list)
    log_level: str = "INFO"
    log_json: bool = True

    # Observability: the worker's Prometheus endpoints (0 = off; the API serves /metrics on its
    # own port), and OpenTelemetry traces over OTLP/HTTP when an endpoint is set (none otherwise).
    metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = Field(default=0, ge=0, le=65535)
    temporal_metrics_port: int = Field(default=0, ge=0, le=65535)
    otlp_endpoint: str = ""

    admin_email: str = ""
    admin_password: SecretStr = SecretStr("")

    default_locale: str = "en"
    # The IANA zone of a user (or doctor) who has not set one.
    default_timezone: str = "UTC"
    # How long a waitlist offer keeps a freed slot for the patient it is offered to.
    waitlist_hold_minutes: int = Field(default=30, ge=1)
    # Analytics: the zone whose calendar days the daily roll-up counts (its schedule fires at
    # midnight there), and how long an analytics or dashboard answer is cached (Redis when
    # MEDIVOY_REDIS_URL is set, else the API process's memory; 0: not cached).
    analytics_timezone: str = "UTC"
    analytics_cache_seconds: int = Field(default=300, ge=0)
    # Big lists (bookings, appointments, payments): meta.total is counted exactly up to this
    # many rows, estimated by PostgreSQL above it (meta.total_exact false; api/paging.py).
    list_exact_total_max: int = Field(default=10_000, ge=0)
    # Clean-up: an upload attached to nothing is removed this long after it came; local outbox
    # messages are kept this many days.
    cleanup_upload_grace_hours: int = Field(default=24, ge=1)
    outbox_retention_days: int = Field(default=90, ge=1)
    # Payment reminders: the first goes out this many days before the due day, the second once
    # it is overdue; a booking waiting for its payment is due this many days after it asked.
    payment_reminder_days_before: int = Field(default=3, ge=0)
    booking_payment_due_days: int = Field(default=7, ge=1)
    # Backups: pg_dump / pg_restore from this folder (empty: the embedded server's binaries),
    # and how many backups the storage backend keeps.
    backup_pg_bin_dir: str = ""
    backup_retention_count: int = Field(default=7, ge=1)
    # MongoDB (the plan's analytics collection): the roll-up also writes its rows there when a
    # URL is set; PostgreSQL stays the truth.
    mongodb_url: SecretStr = SecretStr("")
    mongodb_database: str = "medivoy"
    email_from: str = "no-reply@medivoy.local"
    sendgrid_api_key: SecretStr = SecretStr("")
    sendgrid_host: str = "https://api.sendgrid.com"
    twilio_account_sid: str = ""
    twilio_auth_token: SecretStr = SecretStr("")
    twilio_from_number: str = ""
    twilio_whatsapp_from: str = ""
    twilio_base_url: str = ""
    # Where Twilio posts delivery receipts (and the URL it signs them for); empty: none asked.
    twilio_status_callback_url: str = ""
    # A notification waits this long for the receipts of its SMS/WhatsApp messages before it is
    # done (an undelivered one falls back to the next channel); later receipts are still recorded.
    # Push through FCM's HTTP v1 API (the plan's FIREBASE settings): configured once the
    # project, the service account's e-mail and its private key (PEM) are set.
    firebase_project_id: str = ""
    firebase_client_email: str = ""
    firebase_private_key: SecretStr = SecretStr("")
    firebase_token_uri: str = "https://oauth2.googleapis.com/token"
    fcm_base_url: str = "https://fcm.googleapis.com"
    delivery_receipt_wait_minutes: int = Field(default=30, ge=0)

    tax_rate_default: Decimal = Decimal("0")

    # Payment gateways: a gateway is offered once its secret key is set.
    stripe_secret_key: SecretStr = SecretStr("")
    stripe_publishable_key: str = ""
    stripe_webhook_secret: SecretStr = SecretStr("")
    stripe_api_base: str = ""
    # The embedded Stripe's port on 127.0.0.1: `medivoy dev` runs localstripe there when no
    # Stripe key is set.
    stripe_port: int = Field(default=8420, ge=1, le=65535)
    stripe_webhook_tolerance_seconds: int = Field(default=300, ge=1)
    razorpay_key_id: str = ""
    razorpay_key_secret: SecretStr = SecretStr("")
    razorpay_webhook_secret: SecretStr = SecretStr("")
    razorpay_base_url: str = ""
    # Percent by hospital country, e.g. {"India": 18, "Thailand": 7}; others pay tax_rate_default.
    tax_rates: dict[str, Decimal] = Field(default_factory=dict)

    storage_backend: Literal["local", "s3"] = "local"
    storage_dir: str = ""
    s3_bucket: str = ""
    s3_endpoint_url: str = ""
    aws_region: str = "us-east-1"
    aws_access_key_id: str = ""
    aws_secret_access_key: SecretStr = SecretStr("")
    max_upload_bytes: int = 10_485_760

    # How far ahead a requested or scheduled day (or a quotation's validity) may lie, in years.
    max_years_ahead: int = Field(default=3, ge=1)

    # Booking timers: a booking left in requested/under_review this long alerts its coordinator
    # (admins when unassigned); the patient is reminded this long before a quotation expires.
    booking_review_sla_hours: int = Field(default=48, ge=1)
    quotation_reminder_hours: int = Field(default=48, ge=0)

    # Payments: with no webhook the workflow reads the gateway itself every reconcile minutes;
    # an unpaid checkout expires (cancelled at the gateway) after the window; refunds are
    # taken for refund days after completion.
    payment_reconcile_minutes: int = Field(default=10, ge=1)
    payment_window_hours: int = Field(default=24, ge=1)
    payment_refund_days: int = Field(default=180, ge=0)
    # Subscriptions: the first payment's window (unpaid: incomplete, then expired); the renewal
    # reminder this many days before a period ends; dunning retries this many days after a
    # failed renewal, expired past the grace; the limits of a holder without a plan in force
    # ({"doctors": 3, "appointments_per_month": 50}; a missing key: no limit); Stripe's
    # setup_future_usage on a first charge (localstripe refuses it: the method is attached to
    # the customer after the charge either way).
    subscription_payment_window_hours: int = Field(default=24, ge=1)
    subscription_reminder_days: int = Field(default=7, ge=0)
    subscription_retry_days: list[int] = Field(default_factory=lambda: [1, 3, 7])
    subscription_grace_days: int = Field(default=14, ge=0)
    subscription_default_limits: dict[str, int] = Field(default_factory=dict)
    stripe_setup_future_usage: bool = True
    # The cancellation policy: percent of the payment refunded when a paid booking is cancelled,
    # by the status it was in, e.g. {"payment_completed": 100, "travel_arrangement": 50}.
    cancellation_refund_percent: dict[str, Decimal] = Field(
        default_factory=lambda: dict(DEFAULT_CANCELLATION_REFUND_PERCENT)
    )

    # Appointments: an unconfirmed request holds its slot this long (never past its start); a
    # confirmed one moves to awaiting_consultation this long before; reminders go out at these
    # offsets before the start, never inside the quiet hours (local to the patient, moved
    # earlier); nobody in the call this long after the start is a no-show. A patient's no-show
    # keeps this percent of what was paid (the fee); a doctor's no-show refunds everything.
    appointment_confirm_hours: int = Field(default=24, ge=1)
    appointment_awaiting_hours: int = Field(default=24, ge=0)
    appointment_reminder_offsets: str = "24h,1h"
    appointment_quiet_hours: str = "22:00-08:00"
    appointment_no_show_grace_minutes: int = Field(default=15, ge=1)
    appointment_prepayment_hours: int = Field(default=24, ge=1)
    appointment_no_show_fee_percent: Decimal = Field(default=Decimal(100), ge=0, le=100)
    # Percent refunded of a patient's cancellation by the hours of notice given.
    appointment_refund_policy: dict[int, Decimal] = Field(
        default_factory=lambda: dict(DEFAULT_APPOINTMENT_REFUND_POLICY)
    )
    # The video call: its link opens this long before the start, on this provider.
    video_open_minutes: int = Field(default=15, ge=0)
    video_provider: Literal["jitsi", "nextcloud"] = "jitsi"
    jitsi_base_url: str = "https://meet.jit.si"
    jitsi_app_id: str = "medivoy"
    jitsi_jwt_secret: SecretStr = SecretStr("")
    # Nextcloud Talk (MEDIVOY_VIDEO_PROVIDER=nextcloud): the server and the platform's user with
    # an app password (Settings > Security in Nextcloud).
    nextcloud_url: str = ""
    nextcloud_username: str = ""
    nextcloud_password: SecretStr = SecretStr("")

    @model_validator(mode="after")
    def _payload_keys(self) -> Settings:
        keys = {k: v.get_secret_value() for k, v in self.payload_keys.items()}
        for key_id, value in keys.items():
            parse_key(key_id, value)
        if keys and self.payload_key_id and self.payload_key_id not in keys:
            raise ValueError(
                f"MEDIVOY_PAYLOAD_KEY_ID {self.payload_key_id!r} is not a key of "
                "MEDIVOY_PAYLOAD_KEYS"
            )
        if keys and not self.payload_key_id and len(keys) > 1:
            raise ValueError(
                "MEDIVOY_PAYLOAD_KEYS holds several keys: say which one encrypts with "
                "MEDIVOY_PAYLOAD_KEY_ID"
            )
        return self

    @field_validator("appointment_reminder_offsets")
    @classmethod
    def _offsets(cls, value: str) -> str:
        parse_offsets(value)
        return value

    @field_validator("appointment_quiet_hours")
    @classmethod
    def _quiet(cls, value: str) -> str:
        QuietHours.parse(value)
        return value

    @field_validator("appointment_refund_policy")
    @classmethod
    def _appointment_refunds(cls, value: dict[int, Decimal]) -> dict[int, Decimal]:
        return check_appointment_refund_policy(value)

    @field_validator("default_timezone", "analytics_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return check_timezone(value)

    # Translations: the locales catalog text is translated into (from default_locale), the
    # engine (none: every translation waits for a person), each engine's monthly character
    # budget, its calls per second, and whether machine-translated general (never clinical)
    # text is published without review.
    translation_locales: list[str] = Field(default_factory=lambda: ["ar", "hi", "es", "fr"])
    translation_engine: Literal["", "aws", "libretranslate"] = ""
    translation_monthly_characters: dict[str, int] = Field(
        default_factory=lambda: {"aws": 2_000_000, "libretranslate": 10_000_000}
    )
    translation_rate_per_second: float = Field(default=5, gt=0)
    translation_auto_publish_general: bool = False
    aws_translate_endpoint_url: str = ""
    libretranslate_url: str = ""
    libretranslate_api_key: SecretStr = SecretStr("")

    @field_validator("cancellation_refund_percent")
    @classmethod
    def _known_statuses(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        return check_refund_policy(value)

    @property
    def is_production(self) -> bool:
        return self.env.strip().lower() in PRODUCTION_ENVS

    @property
    def password_hash_cost(self) -> HashCost:
        return HashCost(
            time_cost=self.password_hash_time_cost,
            memory_kib=self.password_hash_memory_kib,
            parallelism=self.password_hash_parallelism,
        )

    @property
    def payload_codec(self) -> EncryptionCodec | None:
        """The encryption codec for Temporal payloads; None when no key is set (not production)."""
        return codec_from_settings(
            {k: v.get_secret_value() for k, v in self.payload_keys.items()}, self.payload_key_id
        )

    @property
    def jwt_key(self) -> str:
        value = self.jwt_secret.get_secret_value()
        if not value:
            raise RuntimeError("MEDIVOY_JWT_SECRET is not set")
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
