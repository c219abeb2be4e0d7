"""The workflow's events, for whoever reacts to them (supervision does) without the workflow knowing them.

Listeners run inside the action's transaction: what they write commits, or rolls back, with the state change.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from delegation.actors import Actor


@dataclass(frozen=True)
class CaseEvent:
    name: str  # the action taken ("approve", "terminate", ...) or "decision_received"
    case: object  # delegation.models.Case
    actor: Actor
    at: datetime


_listeners: dict[str, list[Callable[[CaseEvent], None]]] = {}


def subscribe(name: str):
    def register(fn):
        if fn not in _listeners.setdefault(name, []):
            _listeners[name].append(fn)
        return fn
    return register


def publish(name: str, case, actor: Actor, at: datetime) -> None:
    for fn in _listeners.get(name, ()):
        fn(CaseEvent(name, case, actor, at))
