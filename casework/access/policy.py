"""THE access policy: who may read and write which tier of a survivor's record.

This table is the only place that decides. Pages, forms, the JSON API, exports, letters and
search filters all ask the guards in ``casework.access.guards``, which read it.
"""

from __future__ import annotations

TIERS = ("operational", "demographic", "identifying", "sensitive", "privileged")
RELATIONSHIPS = ("assigned", "team", "none")

READ = "read"
WRITE = "write"
R = frozenset({READ})
RW = frozenset({READ, WRITE})
NOTHING: frozenset[str] = frozenset()

# (role, relationship) -> {tier: permissions}. A pair or tier not listed grants nothing:
# admins, donors and anyone without a relationship to the survivor see no survivor data.
POLICY: dict[tuple[str, str], dict[str, frozenset[str]]] = {
    ("caseworker", "assigned"): {
        "operational": RW,
        "demographic": RW,
        "identifying": RW,
        "sensitive": RW,
    },
    ("counsellor", "assigned"): {
        "operational": R,
        "demographic": R,
        "identifying": R,
        "privileged": RW,
    },
    ("supervisor", "team"): {
        "operational": RW,
        "demographic": R,
        "sensitive": R,
    },
}

# Granted on top of POLICY while a break-glass grant (a stated reason, audited) is open.
BREAK_GLASS: dict[tuple[str, str], dict[str, frozenset[str]]] = {
    ("supervisor", "team"): {"identifying": R},
}


def permissions(role: str, relationship: str, tier: str, break_glass: bool = False) -> frozenset:
    granted = POLICY.get((role, relationship), {}).get(tier, NOTHING)
    if break_glass:
        granted = granted | BREAK_GLASS.get((role, relationship), {}).get(tier, NOTHING)
    return granted


def may_break_glass(role: str, relationship: str) -> bool:
    return (role, relationship) in BREAK_GLASS
