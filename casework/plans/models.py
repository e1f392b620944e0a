"""The survivor's support plan: items of an HTCDS support type, each with an objective, a due
date, a done date and the staff member who sees it through."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .. import vocab
from ..auth.models import User
from ..extensions import db
from ..models_base import SurvivorOwned, Timestamps, UUIDPrimaryKey

OPERATIONAL = {"tier": "operational"}


class PlanItem(UUIDPrimaryKey, Timestamps, SurvivorOwned, db.Model):
    __tablename__ = "plan_items"
    __table_args__ = (
        # Overdue items of one assignee: the alerts and the navigation badge.
        Index("ix_plan_items_assignee_open_due", "assignee_id", "done_on", "due_on"),
    )

    # --- operational
    type: Mapped[str] = mapped_column(
        String(40), info={**OPERATIONAL, "vocab": vocab.SUPPORT_PLAN_TYPE}
    )
    due_on: Mapped[date] = mapped_column(Date, info=OPERATIONAL)
    done_on: Mapped[date | None] = mapped_column(Date, info=OPERATIONAL)
    assignee_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), info=OPERATIONAL)

    # --- sensitive: free text that may describe the survivor's situation
    objective: Mapped[str | None] = mapped_column(Text, info={"tier": "sensitive"})

    assignee: Mapped[User] = relationship(foreign_keys=[assignee_id])

    def __repr__(self) -> str:
        return f"<PlanItem {self.type} due {self.due_on}>"
