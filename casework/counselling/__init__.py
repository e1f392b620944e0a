"""Counselling engagements and sessions; session notes are privileged."""
