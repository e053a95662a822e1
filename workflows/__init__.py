"""Durable state machines, one module per lifecycle. ALL_WORKFLOWS is what the worker runs."""

from workflows.notification import WORKFLOWS as NOTIFICATION_WORKFLOWS

ALL_WORKFLOWS: list[type] = [*NOTIFICATION_WORKFLOWS]
