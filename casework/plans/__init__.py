"""Support plan items and follow-ups (HTCDS spl_Type)."""
