"""Demo data of reassignments and closure requests (synthetic; the lead wires it into
casework/seed.py as ``casework.supervision.approvals_demo.seed_demo``)."""

from __future__ import annotations

import random

from ..extensions import db
from . import approvals, reassign

MOVE_REASONS = [
    "Demo: balancing the team's caseload before leave.",
    "Demo: the survivor asked for a caseworker who speaks their language.",
]
CLOSE_REASONS = [
    "Demo: support plan completed; survivor living independently.",
    "Demo: survivor moved to another region and was referred on.",
]


def seed_demo(rng: random.Random, survivors: list, users: dict) -> None:
    supervisor = users.get("sup.rosa")
    amara, tuan = users.get("cw.amara"), users.get("cw.tuan")
    if supervisor is None or amara is None or tuan is None:
        return
    led = [s for s in survivors if s.lead_caseworker_id == amara.id and not s.is_closed]
    rng.shuffle(led)
    to_move, rest = led[:3], led[3:]
    if to_move:
        moves = reassign.reassign(supervisor, [s.id for s in to_move], tuan.id,
                                  rng.choice(MOVE_REASONS))
        moves[0].acknowledged_at = moves[0].at  # one already seen by the new lead
    for index, survivor in enumerate(rest[:2]):
        status = "ClosedReferred" if index else "Closed"
        request = approvals.request_closure(amara, survivor, status, rng.choice(CLOSE_REASONS))
        if index:
            approvals.return_request(supervisor, request,
                                     "Demo: record the follow-up call before closing.")
    db.session.flush()
