"""The signed-in user: profile, alerts, caseload."""
