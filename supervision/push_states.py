"""A supervision push's states and the one table of what moves it: the supervision half of the workflow engine.

A push is born PUSHED (待认领), with the approval on the deciding node and, when its message arrives, on the
regulator's node. There the regulator claims it, feeds back (several times) and closes it: the REGULATOR rows.
Each step travels to the deciding node, whose handlers move their copy by the SYSTEM rows. When the regulator
lives on the deciding node both share one row, and the message finds it already moved: that is why the SYSTEM rows
also leave a CLAIMED or CLOSED push where it is.

`fire` is the only code that changes a push's state; a new push takes INITIAL_STATE from the column's default.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Callable

from flask_babel import lazy_gettext

from delegation.workflow import Role


def N_(zh: str) -> str:
    """Marks a Chinese title for the catalogue (`pybabel extract` knows N_); `label` translates it when shown."""
    return zh


class PushState(enum.StrEnum):
    """Stored as before: the value in supervision_push.state."""

    PUSHED = "pushed", N_("待认领")
    CLAIMED = "claimed", N_("已认领")
    CLOSED = "closed", N_("已办结")

    def __new__(cls, value: str, title_zh: str):
        member = str.__new__(cls, value)
        member._value_ = value
        member.title_zh = title_zh  # the Chinese title: the API's state_zh, the msgid of `label`
        return member

    @property
    def label(self):
        """The title in the reader's language (Flask-Babel, resolved when rendered)."""
        return lazy_gettext(self.title_zh)


INITIAL_STATE = PushState.PUSHED
FINAL_STATES = frozenset({PushState.CLOSED})


class PushAction(enum.StrEnum):
    CLAIM = "claim"  # 认领
    FEEDBACK = "feedback"  # 监管反馈, any number of times
    CLOSE = "close"  # 监管办结: alone, or with the last feedback
    # the deciding node applies what the regulator's node sent
    CLAIM_RECEIVED = "claim_received"  # supervision.claim
    FEEDBACK_RECEIVED = "feedback_received"  # supervision.feedback
    CLOSE_RECEIVED = "close_received"  # supervision.feedback marked supervision_done


@dataclass(frozen=True)
class PushTransition:
    source: PushState
    action: PushAction
    target: PushState
    role: Role
    guard: str | None = None  # a name in GUARDS; the caller explains a refusal

    @property
    def moves(self) -> bool:
        return self.source is not self.target


def open_rectification(push):
    """The feedback that ordered rectification (责令整改) when no feedback after it records the result, else None.
    A later feedback that orders nothing more (a re-inspection, a penalty for not rectifying, no issue found) is the
    rectification's result; another order keeps it open."""
    pending = None
    for fb in push.feedback:  # oldest first
        pending = fb if getattr(fb, "rectification_ordered", False) else None
    return pending


# The guards' facts: the push, and what the caller knows (`feedback`: the row of the feedback a message names,
# None when it is new here).
GUARDS: dict[str, Callable[[object, dict], bool]] = {
    "has_feedback": lambda push, facts: bool(push.feedback),
    # supervision is closed on what was found and, after an order to rectify, on what came of it
    "closable": lambda push, facts: bool(push.feedback) and open_rectification(push) is None,
    # a closed push takes no new feedback; a known one is the regulator's own row or the closing repeat
    "feedback_known": lambda push, facts: facts.get("feedback") is not None,
}

_P, _C, _X = PushState.PUSHED, PushState.CLAIMED, PushState.CLOSED
_R, _S = Role.REGULATOR, Role.SYSTEM

PUSH_TRANSITIONS: tuple[PushTransition, ...] = (
    # the regulator, on its node
    PushTransition(_P, PushAction.CLAIM, _C, _R),
    PushTransition(_C, PushAction.FEEDBACK, _C, _R),
    PushTransition(_C, PushAction.CLOSE, _X, _R, guard="closable"),
    # the deciding node's handlers
    PushTransition(_P, PushAction.CLAIM_RECEIVED, _C, _S),
    PushTransition(_C, PushAction.CLAIM_RECEIVED, _C, _S),
    PushTransition(_X, PushAction.CLAIM_RECEIVED, _X, _S),
    PushTransition(_C, PushAction.FEEDBACK_RECEIVED, _C, _S),
    PushTransition(_X, PushAction.FEEDBACK_RECEIVED, _X, _S, guard="feedback_known"),
    PushTransition(_C, PushAction.CLOSE_RECEIVED, _X, _S),
    PushTransition(_X, PushAction.CLOSE_RECEIVED, _X, _S, guard="feedback_known"),
)


def transition_for(state: PushState, action: PushAction, role: Role) -> PushTransition | None:
    return next((t for t in PUSH_TRANSITIONS if t.source is state and t.action is action and t.role is role), None)


# What a move into a state records besides the state (the check constraints of supervision_push ask for them).
STAMPS = {PushState.CLAIMED: ("claimed_at", "claimed_by"), PushState.CLOSED: ("closed_at", "closed_by")}


def fire(push, action: PushAction, role: Role, refuse: Callable[[PushTransition | None], Exception], *,
         by: str, at, **facts) -> PushTransition:
    """guard -> effect -> state: move the push by its row, stamping who moved it and when. `refuse(None)` (no row
    from this state) or `refuse(row)` (its guard does not hold) is the error the caller raises, in its own words:
    a Conflict for a regulator, a rejection for a peer node. A row that leaves the push where it is changes
    nothing."""
    row = transition_for(PushState(push.state), action, role)
    if row is None:
        raise refuse(None)
    if row.guard and not GUARDS[row.guard](push, facts):
        raise refuse(row)
    if row.moves:
        at_column, by_column = STAMPS[row.target]
        setattr(push, at_column, at)
        setattr(push, by_column, by)
        push.state = row.target
    return row
