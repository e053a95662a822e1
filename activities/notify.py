"""Notification activities: record one row per channel, then deliver each channel at most once."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jinja2 import TemplateError
from pydantic import BaseModel, Field
from sqlalchemy import String, cast, delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql import func
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.providers.channels import (
    Attachment,
    DeliveryError,
    EmailChannel,
    MessageChannel,
)
from activities.providers.fcm_push import DeviceTokenInvalid
from activities.providers.storage import ObjectNotFound, Storage, StorageError
from activities.render import Rendered, UnknownTemplate, normalize_locale, render
from domain.models.notifications import Channel, Notification, UserDevice
from domain.models.users import User
from runtime.metrics import count_notification

if TYPE_CHECKING:
    from activities.providers.fcm_push import FcmPush
    from activities.providers.wiring import Adapters
    from runtime.settings import Settings

IN_APP_PROVIDER = "in_app"
MAX_ERROR_CHARS = 2000


# Error types (ApplicationError.type): stable, so workflows and dashboards can match on them.
USER_NOT_FOUND = "USER_NOT_FOUND"
NOTIFICATION_NOT_RECORDED = "NOTIFICATION_NOT_RECORDED"
NO_RECIPIENT_ADDRESS = "NO_RECIPIENT_ADDRESS"
TEMPLATE_ERROR = "TEMPLATE_ERROR"
DELIVERY_REJECTED = "DELIVERY_REJECTED"
DELIVERY_FAILED = "DELIVERY_FAILED"
ATTACHMENT_NOT_FOUND = "ATTACHMENT_NOT_FOUND"
# The store failed while reading an attachment (an outage): retried like a provider outage.
ATTACHMENT_UNAVAILABLE = "ATTACHMENT_UNAVAILABLE"


class AttachmentRef(BaseModel):
    """A file to attach to an e-mail, by where it is stored. Only this reference travels through
    Temporal; send_email reads the bytes from storage when it sends."""

    storage_key: str = Field(min_length=1, max_length=1024)
    # The name the recipient sees: no folders, no control characters.
    filename: str = Field(min_length=1, max_length=255, pattern=r"^[^/\\\x00-\x1f\x7f]+$")
    content_type: str = Field(
        default="application/octet-stream",
        max_length=127,
        pattern=r"^[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*$",
    )


@dataclass
class RecipientQuery:
    user_id: uuid.UUID
    # The caller's choice of language; the user's own locale otherwise.
    locale: str | None = None
    # The address waiting for its verification (users.pending_email) instead of the current one.
    to_pending_email: bool = False


@dataclass
class Recipient:
    user_id: uuid.UUID
    email: str | None
    phone: str | None
    locale: str
    first_name: str = ""
    # Push is configured on this worker and the user has a registered device: push joins the
    # channels of their in-app messages. Defaulted: results recorded before push decode as False.
    has_push_device: bool = False


@dataclass
class NotificationRecord:
    dedupe_key: str
    user_id: uuid.UUID
    template: str
    locale: str
    channels: list[Channel]
    context: dict[str, str] = field(default_factory=dict)
    type: str | None = None
    reference_type: str | None = None
    reference_id: uuid.UUID | None = None


@dataclass
class Delivery:
    """One message to one address on one channel (send_email, send_sms, send_whatsapp)."""

    dedupe_key: str
    template: str
    locale: str
    to: str | None
    context: dict[str, str] = field(default_factory=dict)
    # E-mail only. Defaulted, so deliveries recorded before attachments existed still decode.
    attachments: list[AttachmentRef] = field(default_factory=list)


@dataclass
class InAppDelivery:
    dedupe_key: str


@dataclass
class PushDelivery:
    """One message to every device the user registered (send_push). The push shows the in-app
    copy (title, summary): templates keep links and tokens out of it."""

    dedupe_key: str
    user_id: uuid.UUID
    template: str
    locale: str
    context: dict[str, str] = field(default_factory=dict)
    type: str | None = None
    reference_type: str | None = None
    reference_id: uuid.UUID | None = None


@dataclass
class BatchedNotification:
    """One message to one user in a batch (deliver_notifications): a NotificationRequest whose
    channels need no receipt wait and no fallback (in-app and e-mail; push joins in-app)."""

    dedupe_key: str
    user_id: uuid.UUID
    template: str
    channels: list[Channel]
    locale: str | None = None
    context: dict[str, str] = field(default_factory=dict)
    type: str | None = None
    reference_type: str | None = None
    reference_id: uuid.UUID | None = None
    attachments: list[AttachmentRef] = field(default_factory=list)
    to_pending_email: bool = False
    to_email: str | None = None


@dataclass
class NotificationBatch:
    """The notifications a workflow decided at one step, delivered by one activity."""

    notifications: list[BatchedNotification]


@dataclass
class BatchOutcome:
    """What became of one message of a batch: its channels sent and failed for good (ids and
    channel names only)."""

    dedupe_key: str
    sent: list[Channel] = field(default_factory=list)
    failed: list[Channel] = field(default_factory=list)


# The channels deliver_notifications takes (those that send no receipt to wait for).
BATCH_CHANNELS = frozenset({Channel.IN_APP, Channel.EMAIL})


@dataclass
class DeliveryReceipt:
    channel: Channel
    provider: str | None
    provider_message_id: str | None
    # True when an earlier attempt (or an earlier run) had already delivered it.
    already_sent: bool = False
    # How long to wait for the provider's delivery receipt (0: none will come).
    receipt_wait_seconds: float = 0.0


class NotificationActivities:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        email_channel: EmailChannel,
        sms_channel: MessageChannel,
        whatsapp_channel: MessageChannel,
        *,
        storage: Storage | None = None,
        default_locale: str = "en",
        receipt_wait_seconds: float = 0.0,
        push: FcmPush | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        # FCM (the Firebase settings), or None: no push channel on this worker.
        self._push = push
        # Given to the workflow with each message whose channel sends receipts.
        self._receipt_wait_seconds = receipt_wait_seconds
        self._email = email_channel
        self._sms = sms_channel
        self._whatsapp = whatsapp_channel
        # Where e-mail attachments are read from; only needed by deliveries that carry some.
        self._storage = storage
        self._default_locale = default_locale

    @activity.defn
    async def load_recipient(self, query: RecipientQuery) -> Recipient:
        async with self._sessionmaker() as session:
            user = await session.get(User, query.user_id)
            has_device = False
            if user is not None and self._push is not None:
                has_device = (
                    await session.scalar(
                        select(UserDevice.id).where(UserDevice.user_id == user.id).limit(1)
                    )
                ) is not None
        if user is None:
            raise ApplicationError(
                f"user {query.user_id} not found", type=USER_NOT_FOUND, non_retryable=True
            )
        return Recipient(
            user_id=user.id,
            email=(user.pending_email if query.to_pending_email else user.email) or None,
            phone=user.phone or None,
            locale=normalize_locale(query.locale or user.locale or self._default_locale),
            first_name=user.first_name or "",
            has_push_device=has_device,
        )

    @activity.defn
    async def record_notification(self, record: NotificationRecord) -> dict[Channel, uuid.UUID]:
        """One row per channel, keyed by (dedupe_key, channel); a repeat keeps the first rows."""
        try:
            rendered = render(record.template, record.locale, record.context)
        except (UnknownTemplate, TemplateError) as exc:
            raise ApplicationError(str(exc), type=TEMPLATE_ERROR, non_retryable=True) from None
        channels = list(dict.fromkeys(record.channels))
        rows = [
            {
                "user_id": record.user_id,
                "title": rendered.title[:255],
                "message": rendered.summary,
                "type": (record.type or record.template)[:50],
                "reference_type": record.reference_type,
                "reference_id": record.reference_id,
                "channel": channel.value,
                "dedupe_key": record.dedupe_key,
            }
            for channel in channels
        ]
        async with self._sessionmaker() as session, session.begin():
            await session.execute(
                insert(Notification)
                .values(rows)
                .on_conflict_do_nothing(index_elements=["dedupe_key", "channel"])
            )
            stored = await session.execute(
                select(Notification.channel, Notification.id).where(
                    Notification.dedupe_key == record.dedupe_key,
                    Notification.channel.in_([c.value for c in channels]),
                )
            )
            return {Channel(channel): row_id for channel, row_id in stored.all()}

    @activity.defn
    async def deliver_notifications(self, batch: NotificationBatch) -> list[BatchOutcome]:
        """A step's messages at once, each channel at most once (keyed by (dedupe_key,
        channel), as DeliverNotification's): the recipients in one read, every row recorded and
        every in-app message delivered in one transaction, then each e-mail (and push) through
        its provider. A channel that fails for good is recorded and left; one that may heal
        fails the activity after the others were tried, and the retry skips what went out."""
        items = batch.notifications
        user_ids = list(dict.fromkeys(item.user_id for item in items))
        outcomes = {item.dedupe_key: BatchOutcome(item.dedupe_key) for item in items}
        plans: list[tuple[BatchedNotification, Recipient, Rendered, list[Channel]]] = []
        stored: dict[tuple[str, str], Notification] = {}
        # One transaction: the recipients, every row, every in-app delivery, the rows' state.
        async with self._sessionmaker() as session, session.begin():
            users = {
                user.id: user
                for user in (await session.scalars(select(User).where(User.id.in_(user_ids))))
            }
            with_device: set[uuid.UUID] = set()
            if self._push is not None and users:
                with_device = set(
                    await session.scalars(
                        select(UserDevice.user_id)
                        .where(UserDevice.user_id.in_(list(users)))
                        .distinct()
                    )
                )
            rows: list[dict[str, Any]] = []
            for item in items:
                plan = self._plan(item, users.get(item.user_id), with_device)
                if plan is None:
                    outcomes[item.dedupe_key].failed.extend(item.channels)
                    continue
                plans.append(plan)
                _, _, rendered, channels = plan
                rows.extend(
                    {
                        "user_id": item.user_id,
                        "title": rendered.title[:255],
                        "message": rendered.summary,
                        "type": (item.type or item.template)[:50],
                        "reference_type": item.reference_type,
                        "reference_id": item.reference_id,
                        "channel": channel.value,
                        "dedupe_key": item.dedupe_key,
                    }
                    for channel in channels
                )
            if rows:
                keys = [item.dedupe_key for item, *_ in plans]
                await session.execute(
                    insert(Notification)
                    .values(rows)
                    .on_conflict_do_nothing(index_elements=["dedupe_key", "channel"])
                )
                # The row itself is the in-app message (deliver_in_app): sent once.
                delivered = await session.execute(
                    update(Notification)
                    .where(
                        Notification.dedupe_key.in_(keys),
                        Notification.channel == Channel.IN_APP.value,
                        Notification.is_sent.is_(False),
                    )
                    .values(
                        is_sent=True,
                        sent_at=func.now(),
                        provider=IN_APP_PROVIDER,
                        provider_message_id=cast(Notification.id, String),
                        attempts=Notification.attempts + 1,
                    )
                    .returning(Notification.id)
                )
                for _ in delivered.all():
                    count_notification(Channel.IN_APP.value, "sent")
                stored = {
                    (row.dedupe_key, row.channel): row
                    for row in await session.scalars(
                        select(Notification).where(Notification.dedupe_key.in_(keys))
                    )
                }
        retry: list[str] = []
        for item, recipient, rendered, channels in plans:
            outcome = outcomes[item.dedupe_key]
            for channel in channels:
                if channel == Channel.IN_APP:
                    outcome.sent.append(channel)
                    continue
                try:
                    if channel == Channel.PUSH:
                        await self.send_push(
                            PushDelivery(
                                dedupe_key=item.dedupe_key,
                                user_id=item.user_id,
                                template=item.template,
                                locale=recipient.locale,
                                context={"first_name": recipient.first_name, **item.context},
                                type=item.type,
                                reference_type=item.reference_type,
                                reference_id=item.reference_id,
                            )
                        )
                    elif channel == Channel.EMAIL:
                        await self._send_email(
                            Delivery(
                                dedupe_key=item.dedupe_key,
                                template=item.template,
                                locale=recipient.locale,
                                to=recipient.email,
                                attachments=item.attachments,
                            ),
                            row=stored.get((item.dedupe_key, channel.value)),
                            message=rendered,
                        )
                    else:
                        raise ApplicationError(
                            f"{channel.value} is not delivered in a batch",
                            type=DELIVERY_REJECTED,
                            non_retryable=True,
                        )
                except ApplicationError as exc:
                    if exc.non_retryable:
                        outcome.failed.append(channel)
                    else:
                        retry.append(f"{channel.value} of {item.dedupe_key}: {exc.type}")
                    continue
                outcome.sent.append(channel)
        if retry:
            # Everything else went out (and is skipped next time): the retry sends what is left.
            raise ApplicationError(
                f"{len(retry)} deliveries to retry: " + "; ".join(retry), type=DELIVERY_FAILED
            )
        return list(outcomes.values())

    def _plan(
        self, item: BatchedNotification, user: User | None, with_device: set[uuid.UUID]
    ) -> tuple[BatchedNotification, Recipient, Rendered, list[Channel]] | None:
        """Whom, in which words, on which channels; None when it cannot go out at all (no such
        user, a template that does not render): failed for good, the others go on."""
        if user is None:
            activity.logger.warning("notification %s: user not found", item.dedupe_key)
            return None
        recipient = Recipient(
            user_id=user.id,
            email=item.to_email
            or (user.pending_email if item.to_pending_email else user.email)
            or None,
            phone=user.phone or None,
            locale=normalize_locale(item.locale or user.locale or self._default_locale),
            first_name=user.first_name or "",
            has_push_device=user.id in with_device,
        )
        channels = list(dict.fromkeys(item.channels))
        if (
            recipient.has_push_device
            and Channel.IN_APP in channels
            and Channel.PUSH not in channels
            and not item.to_pending_email
        ):
            channels.append(Channel.PUSH)
        context = {"first_name": recipient.first_name, **item.context}
        try:
            rendered = render(item.template, recipient.locale, context)
        except (UnknownTemplate, TemplateError) as exc:
            activity.logger.warning("notification %s: %s", item.dedupe_key, type(exc).__name__)
            return None
        return item, recipient, rendered, channels

    @activity.defn
    async def send_email(self, delivery: Delivery) -> DeliveryReceipt:
        return await self._send_email(delivery)

    async def _send_email(
        self,
        delivery: Delivery,
        *,
        row: Notification | None = None,
        message: Rendered | None = None,
    ) -> DeliveryReceipt:
        async def send(message: Rendered, to: str) -> str:
            attachments = await self._load_attachments(delivery.attachments)
            return await self._email.send_email(
                to, message.subject, message.text, message.html, delivery.dedupe_key, attachments
            )

        return await self._deliver(
            Channel.EMAIL, delivery, self._email.provider, send, row=row, message=message
        )

    @activity.defn
    async def send_sms(self, delivery: Delivery) -> DeliveryReceipt:
        async def send(message: Rendered, to: str) -> str:
            return await self._sms.send_message(to, message.sms, delivery.dedupe_key)

        return self._awaiting_receipt(
            await self._deliver(Channel.SMS, delivery, self._sms.provider, send), self._sms
        )

    @activity.defn
    async def send_whatsapp(self, delivery: Delivery) -> DeliveryReceipt:
        async def send(message: Rendered, to: str) -> str:
            return await self._whatsapp.send_message(to, message.sms, delivery.dedupe_key)

        return self._awaiting_receipt(
            await self._deliver(Channel.WHATSAPP, delivery, self._whatsapp.provider, send),
            self._whatsapp,
        )

    def _awaiting_receipt(
        self, receipt: DeliveryReceipt, channel: MessageChannel
    ) -> DeliveryReceipt:
        if getattr(channel, "reports_delivery", False) and self._receipt_wait_seconds > 0:
            receipt.receipt_wait_seconds = self._receipt_wait_seconds
        return receipt

    @activity.defn
    async def send_push(self, delivery: PushDelivery) -> DeliveryReceipt:
        """The message to each of the user's devices through FCM. A device FCM no longer knows
        is forgotten; one device reached is the message sent (a retry would push the others'
        twice). No device left, or push not configured: failed for good."""
        push = self._push
        async with self._sessionmaker() as session:
            row = await self._find(session, delivery.dedupe_key, Channel.PUSH)
            devices = (
                await session.execute(
                    select(UserDevice.id, UserDevice.token)
                    .where(UserDevice.user_id == delivery.user_id)
                    .order_by(UserDevice.updated_at.desc(), UserDevice.id)
                )
            ).all()
        if row.is_sent:
            return DeliveryReceipt(Channel.PUSH, row.provider, row.provider_message_id, True)
        if push is None or not devices:
            what = "push is not configured" if push is None else "the user has no push device"
            await self._record_failure(row.id, what)
            count_notification(Channel.PUSH.value, "no_address")
            raise ApplicationError(what, type=NO_RECIPIENT_ADDRESS, non_retryable=True)
        try:
            message = render(delivery.template, delivery.locale, delivery.context)
        except (UnknownTemplate, TemplateError) as exc:
            await self._record_failure(row.id, f"{type(exc).__name__}: {exc}")
            count_notification(Channel.PUSH.value, "template_error")
            raise ApplicationError(str(exc), type=TEMPLATE_ERROR, non_retryable=True) from None
        # Ids only: the app opens the notification it refers to.
        data = {
            "dedupe_key": delivery.dedupe_key,
            "type": delivery.type or delivery.template,
            **({"reference_type": delivery.reference_type} if delivery.reference_type else {}),
            **({"reference_id": str(delivery.reference_id)} if delivery.reference_id else {}),
        }
        sent: list[str] = []
        gone: list[uuid.UUID] = []
        errors: list[DeliveryError] = []
        for device_id, token in devices:
            try:
                sent.append(await push.send_push(token, message.title, message.summary, data))
            except DeviceTokenInvalid:
                gone.append(device_id)
            except DeliveryError as exc:
                errors.append(exc)
        if gone:
            async with self._sessionmaker() as session, session.begin():
                await session.execute(delete(UserDevice).where(UserDevice.id.in_(gone)))
        if not sent:
            if not errors:
                await self._record_failure(row.id, "every push device was unregistered")
                count_notification(Channel.PUSH.value, "no_address")
                raise ApplicationError(
                    "the user has no push device FCM knows",
                    type=NO_RECIPIENT_ADDRESS,
                    non_retryable=True,
                )
            first = errors[0]
            permanent = all(exc.permanent for exc in errors)
            await self._record_failure(row.id, "; ".join(str(exc) for exc in errors))
            count_notification(Channel.PUSH.value, "rejected" if permanent else "failed")
            raise ApplicationError(
                first.summary,
                type=DELIVERY_REJECTED if permanent else DELIVERY_FAILED,
                non_retryable=permanent,
            )
        async with self._sessionmaker() as session, session.begin():
            await session.execute(
                update(Notification)
                .where(Notification.id == row.id)
                .values(
                    is_sent=True,
                    sent_at=func.now(),
                    provider=push.provider,
                    provider_message_id=sent[0][:255],
                    attempts=Notification.attempts + 1,
                )
            )
        count_notification(Channel.PUSH.value, "sent")
        return DeliveryReceipt(Channel.PUSH, push.provider, sent[0])

    @activity.defn
    async def deliver_in_app(self, delivery: InAppDelivery) -> DeliveryReceipt:
        """The row itself is the in-app message: delivering it makes it visible as sent."""
        async with self._sessionmaker() as session, session.begin():
            row = await self._find(session, delivery.dedupe_key, Channel.IN_APP)
            if row.is_sent:
                return DeliveryReceipt(
                    Channel.IN_APP, row.provider, row.provider_message_id, already_sent=True
                )
            await session.execute(
                update(Notification)
                .where(Notification.id == row.id)
                .values(
                    is_sent=True,
                    sent_at=func.now(),
                    provider=IN_APP_PROVIDER,
                    provider_message_id=str(row.id),
                    attempts=Notification.attempts + 1,
                )
            )
        count_notification(Channel.IN_APP.value, "sent")
        return DeliveryReceipt(Channel.IN_APP, IN_APP_PROVIDER, str(row.id))

    async def _deliver(
        self,
        channel: Channel,
        delivery: Delivery,
        provider: str,
        send: Callable[[Rendered, str], Awaitable[str]],
        *,
        row: Notification | None = None,
        message: Rendered | None = None,
    ) -> DeliveryReceipt:
        """`row` and `message`: the recorded row and the rendered message when the caller has
        them already (deliver_notifications read and rendered a whole step at once)."""
        if row is None:
            async with self._sessionmaker() as session:
                row = await self._find(session, delivery.dedupe_key, channel)
        if row.is_sent:
            return DeliveryReceipt(channel, row.provider, row.provider_message_id, True)

        # Messages given to Temporal (failure text lands in workflow history) name the provider
        # and status only; the provider's full answer, which may quote the address, stays in
        # notifications.last_error.
        try:
            if not delivery.to:
                what = "e-mail address" if channel == Channel.EMAIL else "phone number"
                raise ApplicationError(
                    f"the user has no {what} for {channel.value}",
                    type=NO_RECIPIENT_ADDRESS,
                    non_retryable=True,
                )
            if message is None:
                message = render(delivery.template, delivery.locale, delivery.context)
            message_id = await send(message, delivery.to)
        except ApplicationError as exc:
            await self._record_failure(row.id, str(exc))
            no_address = exc.type == NO_RECIPIENT_ADDRESS
            count_notification(channel.value, "no_address" if no_address else "failed")
            raise
        except (UnknownTemplate, TemplateError) as exc:
            await self._record_failure(row.id, f"{type(exc).__name__}: {exc}")
            count_notification(channel.value, "template_error")
            raise ApplicationError(str(exc), type=TEMPLATE_ERROR, non_retryable=True) from None
        except DeliveryError as exc:
            await self._record_failure(row.id, str(exc))
            count_notification(channel.value, "rejected" if exc.permanent else "failed")
            raise ApplicationError(
                exc.summary,
                type=DELIVERY_REJECTED if exc.permanent else DELIVERY_FAILED,
                non_retryable=exc.permanent,
            ) from None
        except Exception as exc:
            activity.logger.warning("%s delivery through %s failed", channel.value, provider)
            await self._record_failure(row.id, f"{type(exc).__name__}: {exc}")
            count_notification(channel.value, "failed")
            raise ApplicationError(
                f"{provider} {type(exc).__name__}", type=DELIVERY_FAILED
            ) from None

        async with self._sessionmaker() as session, session.begin():
            await session.execute(
                update(Notification)
                .where(Notification.id == row.id)
                .values(
                    is_sent=True,
                    sent_at=func.now(),
                    provider=provider,
                    provider_message_id=message_id,
                    attempts=Notification.attempts + 1,
                )
            )
        count_notification(channel.value, "sent")
        return DeliveryReceipt(channel, provider, message_id)

    async def _load_attachments(self, refs: list[AttachmentRef]) -> tuple[Attachment, ...]:
        """The attachments' bytes from storage. Messages name the key only (ids, never names)."""
        if not refs:
            return ()
        if self._storage is None:
            raise ApplicationError(
                "this worker has no storage to read attachments from",
                type=ATTACHMENT_NOT_FOUND,
                non_retryable=True,
            )
        loaded = []
        for ref in refs:
            try:
                content = await self._storage.get(ref.storage_key)
            except ObjectNotFound:
                raise ApplicationError(
                    f"attachment {ref.storage_key} not found in {self._storage.backend} storage",
                    type=ATTACHMENT_NOT_FOUND,
                    non_retryable=True,
                ) from None
            except StorageError as exc:
                # An invalid key: asking again cannot find it.
                raise ApplicationError(
                    f"attachment {ref.storage_key}: {exc}",
                    type=ATTACHMENT_NOT_FOUND,
                    non_retryable=True,
                ) from None
            except Exception as exc:
                raise ApplicationError(
                    f"{self._storage.backend} storage {type(exc).__name__}",
                    type=ATTACHMENT_UNAVAILABLE,
                ) from None
            loaded.append(Attachment(ref.filename, content, ref.content_type))
        return tuple(loaded)

    async def _find(self, session: AsyncSession, dedupe_key: str, channel: Channel) -> Notification:
        row = await session.scalar(
            select(Notification).where(
                Notification.dedupe_key == dedupe_key, Notification.channel == channel.value
            )
        )
        if row is None:
            raise ApplicationError(
                f"no {channel.value} notification recorded for this key",
                type=NOTIFICATION_NOT_RECORDED,
                non_retryable=True,
            )
        return row

    async def _record_failure(self, notification_id: uuid.UUID, error: str) -> None:
        async with self._sessionmaker() as session, session.begin():
            await session.execute(
                update(Notification)
                .where(Notification.id == notification_id)
                .values(attempts=Notification.attempts + 1, last_error=error[:MAX_ERROR_CHARS])
            )


def notification_activity_list(
    activities: NotificationActivities,
) -> list[Callable[..., Awaitable[Any]]]:
    """Every notification activity, bound to its providers, for Worker(activities=...)."""
    return [
        activities.load_recipient,
        activities.record_notification,
        activities.send_email,
        activities.send_sms,
        activities.send_whatsapp,
        activities.deliver_in_app,
        activities.send_push,
        activities.deliver_notifications,
    ]


def build_notification_activities(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], adapters: Adapters
) -> NotificationActivities:
    """The channels the wiring picked (real providers where their keys are set, the outbox
    otherwise); attachments come from its storage (the one the invoice PDFs are written to)."""
    return NotificationActivities(
        sessionmaker,
        adapters.email,
        adapters.sms,
        adapters.whatsapp,
        storage=adapters.storage,
        default_locale=settings.default_locale,
        receipt_wait_seconds=settings.delivery_receipt_wait_minutes * 60.0,
        push=adapters.push,
    )
