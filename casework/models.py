"""Every model, imported once so the metadata (and Alembic) knows them all."""

from .access.models import BreakGlassGrant
from .audit.models import AuditEvent
from .auth.models import ApiToken, Organisation, Team, User
from .consent import models as _consent  # noqa: E402,F401
from .counselling import models as _counselling  # noqa: E402,F401
from .legal import models as _legal  # noqa: E402,F401
from .plans import models as _plans  # noqa: E402,F401
from .programmes import models as _programmes  # noqa: E402,F401
from .referrals.models import Partner
from .reports import models as _reports  # noqa: E402,F401
from .retention import models as _retention  # noqa: E402,F401
from .sessions import ServerSessionRecord  # noqa: E402,F401

# Each service package's models (imported for their tables).
from .shelters import models as _shelters  # noqa: E402,F401,I001
from .supervision import models as _supervision  # noqa: E402,F401
from .survivors.models import CaseNumberCounter, Survivor, survivor_collaborators
from .survivors.search import SurvivorSearchKey  # noqa: E402,F401
from .training import models as _training  # noqa: E402,F401

__all__ = [
    "ApiToken",
    "AuditEvent",
    "BreakGlassGrant",
    "CaseNumberCounter",
    "Organisation",
    "Partner",
    "Survivor",
    "Team",
    "User",
    "survivor_collaborators",
]
