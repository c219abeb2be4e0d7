"""The double push (双推送) and what follows it: claim (认领), feedback (监管反馈), closure, and the claim-deadline job.

How it flows, whatever the deployment:

- An approval on the deciding node (the county bureau for `direct`, the city department otherwise) writes a
  `SupervisionPush` and a `supervision.push` message to the supervising authority the mode names
  (push_create).
- The regulator's node applies the message: its copy of the push, stamped `received_at` and the claim deadline
  (push_messages). Regulators see a push only once it has arrived through the bus (push_queries).
- The regulator claims, feeds back (several times) and closes (push_actions); each step writes a message back to
  the deciding node, which moves its copy and adds a line to the case's timeline (push_messages).
- Every change of a push's state is a row of push_states.PUSH_TRANSITIONS, made by push_states.fire.
- `sweep(now)` warns the regulator once, one working day before the claim deadline, and escalates once, past it
  (push_sweep).

Service functions flush; callers commit (the sweep commits per push). This module only names the loop's entry
points for scripts and tests; the app imports the modules above.
"""
from __future__ import annotations

from supervision.push_actions import add_feedback, claim, close, validate_feedback
from supervision.push_create import _push_body, on_approve
from supervision.push_messages import claim_days
from supervision.push_queries import (case_pushes, get_push, is_supervision_line, list_alerts, list_pushes,
                                      sees_supervision, visible_filter)
from supervision.push_sweep import supervisor_of, sweep

__all__ = ["_push_body", "add_feedback", "case_pushes", "claim", "claim_days", "close", "get_push",
           "is_supervision_line", "list_alerts", "list_pushes", "on_approve", "sees_supervision", "supervisor_of",
           "sweep", "validate_feedback", "visible_filter"]
