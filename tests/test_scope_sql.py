"""The access scope written for counts by team (``access.scope_among``): the same survivors
as ``access.scope_clause`` — the team's leads and the cases a team member collaborates on,
nothing of another team — with the team's ids collected first on PostgreSQL
(``= ANY(ARRAY(…))``) and a plain ``IN`` elsewhere."""

from __future__ import annotations

from sqlalchemy import select

from casework import access
from casework.auth.models import User
from casework.extensions import db
from casework.survivors.models import Survivor, survivor_collaborators


def test_scope_among_selects_exactly_the_supervisors_scope(app, make):
    supervisor = make.user("supervisor", team="North")
    north = make.user("caseworker", team="North")
    south = make.user("caseworker", team="South")
    led_north = [make.survivor(north) for _ in range(3)]
    led_south = [make.survivor(south) for _ in range(2)]
    shared = make.survivor(south)  # a South case with a North collaborator
    with app.app_context():
        db.session.execute(survivor_collaborators.insert().values(
            survivor_id=shared, user_id=north.id))
        db.session.commit()
        user = db.session.get(User, supervisor.id)
        among = set(db.session.scalars(
            select(Survivor.id).where(access.scope_among(user, Survivor.id))))
        clause = set(db.session.scalars(select(Survivor.id).where(access.scope_clause(user))))
        assert among == clause == {*led_north, shared}
        assert not among & set(led_south)
        sql = str(select(Survivor.id).where(access.scope_among(user, Survivor.id))
                  .compile(db.engine))
        if db.engine.dialect.name == "postgresql":
            assert "= ANY(ARRAY(SELECT" in sql
        else:
            assert " IN (SELECT" in sql and "ARRAY" not in sql


def test_scope_among_is_the_scope_clause_for_everyone_else(app, make):
    caseworker = make.user("caseworker", team="North")
    mine = make.survivor(caseworker)
    make.survivor(make.user("caseworker", team="North"))
    with app.app_context():
        user = db.session.get(User, caseworker.id)
        assert set(db.session.scalars(select(Survivor.id).where(
            access.scope_among(user, Survivor.id)))) == {mine}
