"""The kit's contracts that need no server: one refusal spelling there and back, and every
search attribute a lifecycle upserts is registered from the one list."""

from __future__ import annotations

from temporalio.exceptions import ActivityError, ApplicationError, RetryState

from domain.errors import Conflict, Invalid
from domain.lifecycle import MoveRefused
from runtime.temporal_server import SEARCH_ATTRIBUTES
from workflows import _kit
from workflows.booking import LEGACY_BOOKING_STATUS, LEGACY_HOSPITAL_ID, LEGACY_PATIENT_ID
from workflows.payment import LEGACY_ENTITY_STATUS


def test_every_search_attribute_a_lifecycle_upserts_is_registered() -> None:
    keys = [
        _kit.ENTITY_KIND,
        _kit.ENTITY_STATUS,
        *_kit.ENTITY_KEYS.values(),
        # Runs recorded before the scheme still upsert these.
        LEGACY_BOOKING_STATUS,
        LEGACY_HOSPITAL_ID,
        LEGACY_PATIENT_ID,
        LEGACY_ENTITY_STATUS,
    ]
    assert {key.name: "Keyword" for key in keys}.items() <= SEARCH_ATTRIBUTES.items()


def test_a_refused_move_crosses_temporal_as_its_error_class_and_code() -> None:
    refused = _kit.refusal(MoveRefused("Conflict", "INVALID_TRANSITION", "no", allowed=[]))
    assert refused.type == "Conflict" and refused.non_retryable
    error = _kit.domain_error(refused)
    assert isinstance(error, Conflict)
    assert (error.code, error.message, error.details) == (
        "INVALID_TRANSITION",
        "no",
        {"allowed": []},
    )


def test_a_coupon_refusal_is_invalid_with_its_code_even_inside_an_activity_error() -> None:
    refused = _kit.refusal(Invalid("That coupon has expired", code="COUPON_EXPIRED"))
    wrapped = ActivityError(
        "activity failed",
        scheduled_event_id=1,
        started_event_id=2,
        identity="test",
        activity_type="reserve_coupon",
        activity_id="1",
        retry_state=RetryState.NON_RETRYABLE_FAILURE,
    )
    wrapped.__cause__ = refused
    found = _kit.unwrap(wrapped)
    assert found is refused
    assert (found.type, _kit.code_of(found)) == ("Invalid", "COUPON_EXPIRED")


def test_an_error_that_is_no_refusal_is_not_unwrapped() -> None:
    assert _kit.unwrap(ApplicationError("gateway down", type="GatewayUnavailable")) is None
