"""The one place that picks and builds the adapters (gateways, channels, storage, translators)
from settings.

Only the roots import this module: the worker (worker.py) and the API lifespan (api/app.py), each
once at start; the API hands the result out as dependencies (api/deps.py). The ports
(channels.py, gateways.py, storage.py) know no adapter; the adapters import their port. An
adapter module, and with it its SDK (sendgrid, twilio, stripe, razorpay, boto3), is imported
only when settings select it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from activities.providers.channels import EmailChannel, MessageChannel
from activities.providers.gateways import GatewayNotConfigured, PaymentGateway
from activities.providers.storage import LocalStorage, S3Storage, Storage, s3_client
from activities.providers.translators import RateLimit, Translator
from activities.providers.video import VideoRooms
from domain.models.notifications import Channel
from domain.payment import PaymentGateway as GatewayName

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from activities.providers.fcm_push import FcmPush
    from runtime.settings import Settings


def build_email_channel(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> EmailChannel:
    """SendGrid when its key is set, else the outbox table."""
    api_key = settings.sendgrid_api_key.get_secret_value()
    if api_key:
        from activities.providers.sendgrid_email import SendGridEmail

        return SendGridEmail(api_key, sender=settings.email_from, host=settings.sendgrid_host)
    from activities.providers.outbox import OutboxEmail

    return OutboxEmail(sessionmaker)


def build_message_channel(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], channel: Channel
) -> MessageChannel:
    """Twilio when its account, token and this channel's sender are set, else the outbox."""
    if channel not in (Channel.SMS, Channel.WHATSAPP):
        raise ValueError(f"not a message channel: {channel}")
    sender = (
        settings.twilio_from_number if channel == Channel.SMS else settings.twilio_whatsapp_from
    )
    auth_token = settings.twilio_auth_token.get_secret_value()
    if settings.twilio_account_sid and auth_token and sender:
        from activities.providers.twilio_messages import TwilioMessages

        return TwilioMessages(
            settings.twilio_account_sid,
            auth_token,
            sender=sender,
            whatsapp=channel == Channel.WHATSAPP,
            base_url=settings.twilio_base_url or None,
            status_callback=settings.twilio_status_callback_url or None,
        )
    from activities.providers.outbox import OutboxMessages

    return OutboxMessages(sessionmaker, channel)


def build_payment_gateway(settings: Settings, gateway: GatewayName) -> PaymentGateway:
    """The configured adapter of one gateway, or GatewayNotConfigured."""
    if gateway == GatewayName.STRIPE:
        secret = settings.stripe_secret_key.get_secret_value()
        if not secret:
            raise GatewayNotConfigured(gateway)
        from activities.providers.stripe_payments import StripePayments

        return StripePayments(
            secret,
            api_base=settings.stripe_api_base or None,
            publishable_key=settings.stripe_publishable_key or None,
            setup_future_usage=settings.stripe_setup_future_usage,
        )
    if gateway == GatewayName.RAZORPAY:
        secret = settings.razorpay_key_secret.get_secret_value()
        if not (settings.razorpay_key_id and secret):
            raise GatewayNotConfigured(gateway)
        from activities.providers.razorpay_payments import RazorpayPayments

        return RazorpayPayments(
            settings.razorpay_key_id, secret, base_url=settings.razorpay_base_url or None
        )
    raise ValueError(f"unknown gateway: {gateway}")


def build_payment_gateways(settings: Settings) -> dict[GatewayName, PaymentGateway]:
    """Every gateway that is configured, by name (none in a bare dev setup)."""
    built: dict[GatewayName, PaymentGateway] = {}
    for name in GatewayName:
        try:
            built[name] = build_payment_gateway(settings, name)
        except GatewayNotConfigured:
            continue
    return built


def build_translator(settings: Settings) -> Translator | None:
    """The engine MEDIVOY_TRANSLATION_ENGINE names, or None (translations wait for people)."""
    limit = RateLimit(settings.translation_rate_per_second)
    if settings.translation_engine == "aws":
        from activities.providers.translators import AwsTranslate, aws_translate_client

        secret = settings.aws_secret_access_key.get_secret_value()
        client = aws_translate_client(
            settings.aws_region,
            settings.aws_translate_endpoint_url or None,
            settings.aws_access_key_id or None,
            secret or None,
        )
        return AwsTranslate(client, limit)
    if settings.translation_engine == "libretranslate":
        if not settings.libretranslate_url:
            raise RuntimeError("MEDIVOY_LIBRETRANSLATE_URL is not set (engine libretranslate)")
        from activities.providers.translators import LibreTranslate

        return LibreTranslate(
            settings.libretranslate_url, limit, settings.libretranslate_api_key.get_secret_value()
        )
    return None


def build_storage(settings: Settings) -> Storage:
    """The S3 bucket when MEDIVOY_STORAGE_BACKEND=s3, else a local folder."""
    if settings.storage_backend == "s3":
        if not settings.s3_bucket:
            raise RuntimeError("MEDIVOY_S3_BUCKET is not set (storage_backend=s3)")
        return S3Storage(s3_client(settings), settings.s3_bucket)
    root = Path(settings.storage_dir) if settings.storage_dir else settings.data_dir / "files"
    return LocalStorage(root)


def build_video_rooms(settings: Settings) -> VideoRooms:
    """Jitsi by default (MEDIVOY_VIDEO_PROVIDER=jitsi); Nextcloud Talk when selected."""
    if settings.video_provider == "jitsi":
        from activities.providers.video import JitsiRooms

        jwt_secret = settings.jitsi_jwt_secret.get_secret_value()
        return JitsiRooms(
            settings.jitsi_base_url,
            # Room names are keyed by a server-side secret: the Jitsi one, else the API's own.
            jwt_secret or settings.jwt_key,
            app_id=settings.jitsi_app_id,
            jwt_secret=jwt_secret,
        )
    if settings.video_provider == "nextcloud":
        from activities.providers.nextcloud_talk import NextcloudTalkRooms

        return NextcloudTalkRooms(
            settings.nextcloud_url,
            settings.nextcloud_username,
            settings.nextcloud_password.get_secret_value(),
        )
    raise ValueError(f"unknown video provider: {settings.video_provider}")


def build_push(settings: Settings) -> FcmPush | None:
    """FCM when the Firebase project and service account are set; else no push."""
    private_key = settings.firebase_private_key.get_secret_value()
    if not (settings.firebase_project_id and settings.firebase_client_email and private_key):
        return None
    from activities.providers.fcm_push import FcmPush

    return FcmPush(
        settings.firebase_project_id,
        settings.firebase_client_email,
        private_key,
        token_uri=settings.firebase_token_uri,
        base_url=settings.fcm_base_url,
    )


@dataclass(frozen=True)
class Adapters:
    """Every adapter a process uses, built once at its start."""

    email: EmailChannel
    sms: MessageChannel
    whatsapp: MessageChannel
    storage: Storage
    gateways: Mapping[GatewayName, PaymentGateway] = field(default_factory=dict)
    video: VideoRooms | None = None
    push: FcmPush | None = None
    translator: Translator | None = None

    def gateway(self, name: GatewayName) -> PaymentGateway:
        """The configured gateway of that name, or GatewayNotConfigured."""
        try:
            return self.gateways[name]
        except KeyError:
            raise GatewayNotConfigured(name) from None

    def in_use(self) -> dict[str, str | list[str]]:
        """What each adapter actually is, for /health/services: no secrets, only names."""
        return {
            "email": self.email.provider,
            "sms": self.sms.provider,
            "whatsapp": self.whatsapp.provider,
            "storage": self.storage.backend,
            "payment_gateways": sorted(name.value for name in self.gateways),
            "video": self.video.provider if self.video is not None else "none",
        }


def build_adapters(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> Adapters:
    return Adapters(
        email=build_email_channel(settings, sessionmaker),
        sms=build_message_channel(settings, sessionmaker, Channel.SMS),
        whatsapp=build_message_channel(settings, sessionmaker, Channel.WHATSAPP),
        storage=build_storage(settings),
        gateways=build_payment_gateways(settings),
        video=build_video_rooms(settings),
        push=build_push(settings),
        translator=build_translator(settings),
    )
