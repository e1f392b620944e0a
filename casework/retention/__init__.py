"""Retention and erasure: erasure of one survivor on request (approved by a supervisor, with
a deletion certificate), the retention run (``flask retention run``) and the survivor's own
data export (subject access). See service.py."""
