"""Shelters, beds and placements."""
