"""Vocational training programmes, enrolments and employment outcomes."""
