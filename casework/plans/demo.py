"""Synthetic demo support plans: about two items per survivor, some overdue, assigned to
the demo caseworkers and counsellor who work on each case."""

from __future__ import annotations

import random
from datetime import date, timedelta

from .. import vocab
from . import service

OBJECTIVES = {
    "Education": ["Enrol in evening literacy classes.", "Get school records transferred."],
    "Financial": ["Open a bank account.", "Make a monthly budget together."],
    "Health": ["Book a general health check.", "Follow up the dental appointment."],
    "LabourExploitationRehabilitation": ["Weekly peer-support group for six weeks."],
    "Legal": ["Prepare documents for the residence permit interview."],
    "Livelihood": ["Find a work placement after the training ends.", "Write a CV."],
    "RightsBasedTraining": ["Attend the workers' rights session."],
    "SexualExploitationRehabilitation": ["Start the trauma-informed support programme."],
    "SocialCare": ["Find longer-term housing.", "Apply for the childcare place."],
}


def seed_demo(rng: random.Random, survivors: list, users: dict) -> None:
    today = date.today()
    types = vocab.htcds(vocab.SUPPORT_PLAN_TYPE).values
    demo_staff = {users[name].id for name in ("cw.amara", "cw.tuan", "co.lina")}
    for survivor in survivors:
        lead = survivor.lead_caseworker
        # People working on the case see its plan and its alerts; others would not.
        staff = [u for u in (lead, *survivor.collaborators) if u.id in demo_staff] or [lead]
        for _n in range(rng.choice((1, 2, 2, 3))):
            kind = rng.choice(types)
            due_on = today + timedelta(days=rng.randint(-45, 60))
            due_on = max(due_on, survivor.intake_date)
            assignee = rng.choice([lead, *staff])
            data = {"type": kind, "objective": rng.choice(OBJECTIVES.get(kind, ["Follow up."])),
                    "due_on": due_on, "assignee_id": assignee.id}
            if due_on < today and rng.random() < 0.6:
                data["done_on"] = due_on - timedelta(days=rng.randint(0, 5))
            service.create_item(lead, survivor, data)
