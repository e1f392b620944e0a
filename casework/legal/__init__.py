"""Legal aid: legal matters, hearings and outcomes."""
