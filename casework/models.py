"""Every model, imported once so the metadata (and Alembic) knows them all."""

from .access.models import BreakGlassGrant
from .audit.models import AuditEvent
from .auth.models import ApiToken, Organisation, Team, User
from .survivors.models import CaseNumberCounter, Survivor, survivor_collaborators

__all__ = [
    "ApiToken",
    "AuditEvent",
    "BreakGlassGrant",
    "CaseNumberCounter",
    "Organisation",
    "Survivor",
    "Team",
    "User",
    "survivor_collaborators",
]
