"""What every lifecycle shares: a transition table as data, who asks, why a move is refused.

A lifecycle (booking, payment, and the ones to come) is its status enum plus a TransitionTable in
`domain/<lifecycle>.py`. Its workflow's update validators call `check`, the API reports
`next_statuses` as the allowed moves, and tests/domain/test_lifecycles.py holds every table in
TABLES to the same promises (every status reachable, ends are sinks, the platform's moves are
its own).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, Generic, TypeVar

# The platform itself (a timer, another workflow, a gateway webhook): the actor of system-only
# moves, and the actor_role its history rows carry.
SYSTEM: Final = "system"
PLATFORM: frozenset[str] = frozenset({SYSTEM})

S = TypeVar("S", bound=StrEnum)


@dataclass(frozen=True)
class Actor:
    """Who asks: a person in a role (user_id set), or the platform (role SYSTEM)."""

    role: str
    user_id: uuid.UUID | None = None

    @property
    def is_system(self) -> bool:
        return self.role == SYSTEM


# A guard looks at the move's context (the lifecycle's own type) and returns None when the move
# may go ahead, else a stable error code.
Guard = Callable[[Any], str | None]


class MoveRefused(Exception):
    """Why a move may not happen. kind names the domain error class (Conflict, Forbidden,
    Invalid) that the API renders; code is the stable code; allowed the next statuses."""

    def __init__(
        self,
        kind: str,
        code: str,
        message: str,
        allowed: Iterable[StrEnum] | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = code
        self.message = message
        self.allowed = list(allowed) if allowed is not None else None

    def details(self) -> dict[str, object]:
        details: dict[str, object] = {"code": self.code}
        if self.allowed is not None:
            details["allowed"] = [s.value for s in self.allowed]
        return details


@dataclass(frozen=True)
class Transition(Generic[S]):
    source: S
    target: S
    # Role values, or SYSTEM alone for moves only the platform makes.
    roles: frozenset[str]
    guards: tuple[Guard, ...] = field(default=())

    @property
    def system_only(self) -> bool:
        return self.roles == PLATFORM


def moves(
    source: S, targets: Iterable[S], roles: frozenset[str], *guards: Guard
) -> list[Transition[S]]:
    """One transition from `source` to each target, for the same roles and guards."""
    return [Transition(source, target, frozenset(roles), tuple(guards)) for target in targets]


class TransitionTable(Generic[S]):
    """A lifecycle as data: its statuses, where it starts, where it ends, and every move."""

    def __init__(
        self,
        noun: str,
        statuses: type[S],
        initial: S,
        terminal: frozenset[S],
        transitions: Iterable[Transition[S]],
        *,
        involved: Callable[[Actor, Any], bool] | None = None,
        not_involved: tuple[str, str] = ("NOT_INVOLVED", "You do not act on this"),
        guard_messages: Mapping[str, str] | None = None,
        retired: frozenset[S] = frozenset(),
    ) -> None:
        self.noun = noun
        # Statuses old rows may still carry but no move reaches any more (they may be left).
        self.retired = retired
        self.statuses = statuses
        self.initial = initial
        self.terminal = terminal
        self.transitions: tuple[Transition[S], ...] = tuple(transitions)
        self._involved = involved
        self._not_involved = not_involved
        self._guard_messages = dict(guard_messages or {})
        self._by_edge = {(t.source, t.target): t for t in self.transitions}
        if len(self._by_edge) != len(self.transitions):
            raise ValueError(f"the {noun} table names a move twice")
        if any(t.target in retired for t in self.transitions):
            raise ValueError(f"the {noun} table moves into a retired status")

    def transition(self, source: S, target: S) -> Transition[S] | None:
        return self._by_edge.get((source, target))

    def next_statuses(self, source: S, role: str | None = None) -> list[S]:
        """Where it may go from here (for this role, when given), in the enum's order."""
        targets = {
            t.target
            for t in self.transitions
            if t.source == source and (role is None or role in t.roles)
        }
        return [s for s in self.statuses if s in targets]

    @property
    def system_only_targets(self) -> frozenset[S]:
        """Statuses that only the platform's moves reach: no person may ask for them."""
        by_platform = {t.target for t in self.transitions if t.system_only}
        by_people = {t.target for t in self.transitions if not t.system_only}
        return frozenset(by_platform - by_people)

    def check(
        self,
        source: S,
        target: S,
        actor: Actor,
        parties: Any = None,
        ctx: Any = None,
    ) -> Transition[S]:
        """The transition for this move, or MoveRefused saying why not (409 or 403)."""
        noun = self.noun
        move = self.transition(source, target)
        allowed = self.next_statuses(source, actor.role)
        if move is None:
            raise MoveRefused(
                "Conflict",
                "INVALID_TRANSITION",
                f"A {noun} cannot move from {source.value} to {target.value}",
                allowed,
            )
        if actor.role not in move.roles:
            who = "the platform" if move.system_only else ", ".join(sorted(move.roles))
            raise MoveRefused(
                "Forbidden",
                "ROLE_NOT_ALLOWED",
                f"Only {who} may move a {noun} from {source.value} to {target.value}",
            )
        if self._involved is not None and not self._involved(actor, parties):
            raise MoveRefused("Forbidden", *self._not_involved)
        for guard in move.guards:
            code = guard(ctx)
            if code is not None:
                raise MoveRefused("Conflict", code, self._guard_messages.get(code, code), allowed)
        return move
