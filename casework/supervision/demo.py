"""Demo supervision history: reassignments and closure requests (synthetic)."""

from .approvals_demo import seed_demo

__all__ = ["seed_demo"]
