"""Programmes: what donors fund. Survivors are linked to the programmes their services are
funded by; a donor account belongs to the programmes it funds and sees only their reports."""
