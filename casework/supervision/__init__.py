"""Supervisor features: caseload review, team dashboard and other team-level pages."""
