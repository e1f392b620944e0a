"""The access matrix: role × relationship × survivor field × surface, against the policy table.

For every survivor field (``field_specs(Survivor)``) and every way a user can stand to a
survivor, each surface must do exactly what ``casework.access.policy.permissions`` says:

* ``page``      GET /survivors/<id>: the field's label is a ``<dt>`` iff readable (404 when
                nothing is readable; ``id`` is in the URL and never listed); identifying and
                sensitive values never appear in the HTML when unreadable.
* ``edit_form`` GET /survivors/<id>/edit: an input/select/textarea named after the field
                iff writable (404 when unreadable, 403 when readable but nothing is writable).
* ``api_read``  GET /api/v1/survivors/<id>: the key is present iff readable (absent, not null).
* ``api_write`` PATCH /api/v1/survivors/<id>: 200 and stored iff writable, else 403 with
                problem+json ``fields: [name]`` and the row untouched (404 when unreadable).

The expected matrix is derived from the policy table and the models' tier declarations, so it
tracks them; ``test_default_policy_table`` pins the table itself so that a silent change of it
fails here too.

All tests share one world (users, clients, one survivor and a decoy survivor) built once for
the module; every test that may change the survivor restores its row afterwards.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from markupsafe import escape
from sqlalchemy import delete, func, insert, select, update

import casework.models  # noqa: F401  (every model mapped before field_specs inspects them)
from casework import access
from casework.access.fields import field_specs
from casework.access.models import BreakGlassGrant
from casework.access.policy import READ, RELATIONSHIPS, TIERS, WRITE, permissions
from casework.auth.models import ROLES, User
from casework.crypto import Encrypted
from casework.encryption import decrypt_row, encrypt_value
from casework.extensions import db, limiter
from casework.programmes.models import Programme, survivor_programmes
from casework.survivors.labels import FIELD_LABELS
from casework.survivors.models import Survivor, survivor_collaborators
from tests.conftest import Factory, _empty_all_tables, login_api, login_web

SPECS = field_specs(Survivor)
FIELDS = list(SPECS)
SURFACES = ("page", "edit_form", "api_read", "api_write")
GLASS_REASON = "Emergency: the survivor is missing and police need her contact details."


# --- the default table, hard-coded ---------------------------------------------------

# (role, relationship) -> tier -> permissions ("r", "rw" or ""). Anything not listed: nothing.
DEFAULT_TABLE = {
    ("caseworker", "assigned"): {"operational": "rw", "demographic": "rw", "identifying": "rw",
                                 "sensitive": "rw", "privileged": ""},
    ("counsellor", "assigned"): {"operational": "r", "demographic": "r", "identifying": "r",
                                 "sensitive": "", "privileged": "rw"},
    ("supervisor", "team"): {"operational": "rw", "demographic": "r", "identifying": "",
                             "sensitive": "r", "privileged": ""},
}
# Added while a break-glass grant is open.
DEFAULT_BREAK_GLASS = {("supervisor", "team"): {"identifying": "r"}}


def _letters(granted: frozenset) -> str:
    return ("r" if READ in granted else "") + ("w" if WRITE in granted else "")


def test_default_policy_table():
    assert set(TIERS) == {"operational", "demographic", "identifying", "sensitive", "privileged"}
    assert set(RELATIONSHIPS) == {"assigned", "team", "none"}
    assert {"caseworker", "counsellor", "supervisor", "admin", "donor"} <= set(ROLES)
    for role in ROLES:
        for rel in RELATIONSHIPS:
            for tier in TIERS:
                base = DEFAULT_TABLE.get((role, rel), {}).get(tier, "")
                glass = DEFAULT_BREAK_GLASS.get((role, rel), {}).get(tier, "")
                with_glass = "".join(p for p in "rw" if p in base or p in glass)
                label = f"{role}/{rel}/{tier}"
                assert _letters(permissions(role, rel, tier)) == base, label
                assert _letters(permissions(role, rel, tier, True)) == with_glass, label + "+glass"
    # The matrix below is only meaningful if the record has fields in the tiers that matter.
    tiers = {spec.tier for spec in SPECS.values()}
    assert {"operational", "demographic", "identifying", "sensitive"} <= tiers
    assert SPECS["first_name"].tier == "identifying"
    assert SPECS["narrative"].tier == "sensitive"
    assert SPECS["collaborator_ids"].tier == "operational"
    assert SPECS["programme_ids"].tier == "operational"
    assert set(FIELD_LABELS) >= set(SPECS), "every survivor field needs an on-screen label"


# --- who stands where ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    key: str  # test id prefix: "<role>-<relationship>[_how]"
    user: str  # key into World.users
    role: str
    relationship: str
    break_glass: bool = False

    def granted(self, permission: str) -> set[str]:
        return {name for name, spec in SPECS.items()
                if permission in permissions(self.role, self.relationship, spec.tier,
                                             self.break_glass)}

    @property
    def readable(self) -> set[str]:
        return self.granted(READ)

    @property
    def writable(self) -> set[str]:
        return {name for name in self.granted(WRITE) if not SPECS[name].read_only}


CONTEXTS = [
    Context("caseworker-assigned_lead", "lead", "caseworker", "assigned"),
    Context("caseworker-assigned_collaborator", "cw_collab", "caseworker", "assigned"),
    Context("caseworker-none", "cw_other_team", "caseworker", "none"),
    Context("counsellor-assigned", "counsellor", "counsellor", "assigned"),
    Context("counsellor-none", "counsellor_other", "counsellor", "none"),
    Context("supervisor-team", "sup", "supervisor", "team"),
    Context("supervisor-team_breakglass_api", "sup_glass_api", "supervisor", "team", True),
    Context("supervisor-team_breakglass_page", "sup_glass_page", "supervisor", "team", True),
    Context("supervisor-none", "sup_other_team", "supervisor", "none"),
    Context("admin-none", "admin", "admin", "none"),
    Context("donor-none", "donor", "donor", "none"),
]
CONTEXT_IDS = [c.key for c in CONTEXTS]
IN_SCOPE = {c.key for c in CONTEXTS if c.relationship != "none"}

# Users: key -> (role, team).
USERS = {
    "lead": ("caseworker", "North"),
    "cw_collab": ("caseworker", "North"),
    "spare_cw": ("caseworker", "North"),  # a valid new lead caseworker
    "cw_other_team": ("caseworker", "South"),
    "counsellor": ("counsellor", "North"),
    "counsellor_other": ("counsellor", "North"),  # same team, not assigned: still "none"
    "sup": ("supervisor", "North"),
    "sup_glass_api": ("supervisor", "North"),
    "sup_glass_page": ("supervisor", "North"),
    "sup_other_team": ("supervisor", "South"),
    "admin": ("admin", None),
    "donor": ("donor", None),
}


# --- values -----------------------------------------------------------------------------------

# Funded programmes (made directly in the database): the survivor's, the one a write moves it
# to, and the decoy's.
PROGRAMMES = {
    "initial": (uuid.UUID("7a0d5c1e-0000-4000-8000-000000000001"), "PROGRAMME-MARKER-61"),
    "new": (uuid.UUID("7a0d5c1e-0000-4000-8000-000000000002"), "Second Programme (demo)"),
    "decoy": (uuid.UUID("7a0d5c1e-0000-4000-8000-000000000003"), "Decoy Programme (demo)"),
}
PROGRAMME_ID = {key: pid for key, (pid, _name) in PROGRAMMES.items()}

# The record's starting values. Free text and the birth date are distinctive markers, so
# that a leak anywhere on a page or in a response can be spotted.
INITIAL = {
    "intake_date": date(2026, 1, 15),
    "referral_source": "Police",
    "gender": "Feminine",
    "citizenship": ["KH"],
    "primary_language": "km",
    "trafficking_status": "ActualVictimOfTrafficking",
    "exploitation_types": ["SexualExploitation"],
    "recruitment_methods": ["ThroughFriendsOrSocialEvents"],
    "recruitment_platforms": ["Telegram"],
    "countries_of_exploitation": ["MY"],
    "first_name": "Zyxwq",
    "last_name": "LASTNAME-MARKER-31",
    "known_as": "KNOWNAS-MARKER-47",
    "date_of_birth": date(1995, 5, 4),
    "phone": "+855 77 313 131",
    "email": "mail.qpzmv@example.org",
    "address": "ADDRESS-MARKER-77, Riverside Road",
    "narrative": "NARRATIVE-MARKER-123",
    "risk_level": "medium",
    "risk_notes": "RISKNOTES-MARKER-456",
    "programme_ids": [PROGRAMME_ID["initial"]],
}
CLOSURE_REASON = "CLOSURE-MARKER-789"

# How a value appears on a page and in JSON, for the fields whose values are distinctive.
PAGE_MARKERS = {
    "first_name": "Zyxwq",
    "last_name": "LASTNAME-MARKER-31",
    "known_as": "KNOWNAS-MARKER-47",
    "date_of_birth": "May 4, 1995",
    "phone": "+855 77 313 131",
    "email": "mail.qpzmv@example.org",
    "address": "ADDRESS-MARKER-77",
    "narrative": "NARRATIVE-MARKER-123",
    "risk_notes": "RISKNOTES-MARKER-456",
    "closure_reason": CLOSURE_REASON,
    "programme_ids": PROGRAMMES["initial"][1],
}
JSON_MARKERS = {**PAGE_MARKERS, "date_of_birth": "1995-05-04",
                "programme_ids": str(PROGRAMME_ID["initial"])}

DECOY = {
    "first_name": "Decoyname",
    "narrative": "Decoy narrative.",
    "intake_date": date(2026, 1, 10),
    "date_of_birth": date(1980, 2, 2),
    "programme_ids": [PROGRAMME_ID["decoy"]],
}


def new_values(world) -> dict[str, tuple[object, object]]:
    """field -> (value to send in JSON, value then stored), each differing from INITIAL."""
    forged_time = "2020-01-01T00:00:00Z"
    return {
        "id": (str(uuid.uuid4()), None),
        "created_at": (forged_time, None),
        "updated_at": (forged_time, None),
        "case_number": ("CW-2026-999999", None),
        "closed_at": (forged_time, None),
        "erased_at": (forged_time, None),  # set only by erasure (tests/test_retention.py)
        "closure_reason": ("Forged closure reason", None),
        "age_band": ("50+", None),
        "status": ("FollowUp", "FollowUp"),
        "lead_caseworker_id": (str(world.ids["spare_cw"]), world.ids["spare_cw"]),
        "collaborator_ids": ([str(world.ids["counsellor"])], [world.ids["counsellor"]]),
        "programme_ids": ([str(PROGRAMME_ID["new"])], [PROGRAMME_ID["new"]]),
        "intake_date": ("2026-02-01", date(2026, 2, 1)),
        "referral_source": ("Hotline", "Hotline"),
        "gender": ("Masculine", "Masculine"),
        "citizenship": (["VN"], ["VN"]),
        "primary_language": ("vi", "vi"),
        "trafficking_status": ("PossibleVictimOfTrafficking", "PossibleVictimOfTrafficking"),
        "exploitation_types": (["ForcedLabour"], ["ForcedLabour"]),
        "recruitment_methods": (["AtWork"], ["AtWork"]),
        "recruitment_platforms": (["Facebook"], ["Facebook"]),
        "countries_of_exploitation": (["TH"], ["TH"]),
        "first_name": ("Newfirst", "Newfirst"),
        "last_name": ("Newlast", "Newlast"),
        "known_as": ("Newknown", "Newknown"),
        "date_of_birth": ("1990-01-01", date(1990, 1, 1)),
        "phone": ("+84 90 000 0000", "+84 90 000 0000"),
        "email": ("new.address@example.org", "new.address@example.org"),
        "address": ("1 New Street", "1 New Street"),
        "narrative": ("A new narrative.", "A new narrative."),
        "risk_level": ("high", "high"),
        "risk_notes": ("New risk notes.", "New risk notes."),
    }


# --- the shared world ---------------------------------------------------------------------------


class World:
    def __init__(self, app):
        self.app = app
        self.users: dict[str, User] = {}
        self.ids: dict[str, uuid.UUID] = {}
        self.web: dict = {}
        self.api: dict = {}
        self.sid: uuid.UUID | None = None
        self.decoy_sid: uuid.UUID | None = None
        self.initial: dict = {}  # the survivor's row once set up
        self.new: dict = {}  # new_values()
        self._labels: dict[str, str] = {}

    # direct database access, bypassing the app's guards
    def snapshot(self, sid=None) -> dict:
        sid = sid or self.sid
        table = Survivor.__table__
        with self.app.app_context():
            row = db.session.execute(select(table).where(table.c.id == sid)).mappings().one()
            collaborators = sorted(db.session.scalars(
                select(survivor_collaborators.c.user_id)
                .where(survivor_collaborators.c.survivor_id == sid)))
            programmes = sorted(db.session.scalars(
                select(survivor_programmes.c.programme_id)
                .where(survivor_programmes.c.survivor_id == sid)))
            db.session.rollback()
            values = decrypt_row(table, row)  # identifying fields are stored encrypted
        return {**values, "collaborator_ids": collaborators, "programme_ids": programmes}

    def restore(self, snap: dict) -> None:
        table = Survivor.__table__
        sid = snap["id"]
        columns = {k: v for k, v in snap.items()
                   if k not in ("id", "collaborator_ids", "programme_ids")}
        with self.app.app_context():
            columns = {k: encrypt_value(table, k, sid, v)
                       if isinstance(table.c[k].type, Encrypted) else v
                       for k, v in columns.items()}
            # Core UPDATE with every column given: no onupdate default sneaks in.
            db.session.execute(update(table).where(table.c.id == sid).values(**columns))
            db.session.execute(delete(survivor_collaborators)
                               .where(survivor_collaborators.c.survivor_id == sid))
            if snap["collaborator_ids"]:
                db.session.execute(insert(survivor_collaborators), [
                    {"survivor_id": sid, "user_id": uid} for uid in snap["collaborator_ids"]])
            db.session.execute(delete(survivor_programmes)
                               .where(survivor_programmes.c.survivor_id == sid))
            if snap["programme_ids"]:
                db.session.execute(insert(survivor_programmes), [
                    {"survivor_id": sid, "programme_id": pid} for pid in snap["programme_ids"]])
            db.session.commit()
        assert self.snapshot(sid) == snap

    @contextlib.contextmanager
    def preserved(self):
        """Put the survivor's row back as it was, whatever the block did to it."""
        snap = self.snapshot()
        try:
            yield snap
        finally:
            if self.snapshot() != snap:
                self.restore(snap)

    def label(self, name: str) -> str:
        if not self._labels:
            with self.app.test_request_context("/"):
                self._labels = {k: str(v) for k, v in FIELD_LABELS.items()}
        return self._labels[name]

    def csrf_token(self, web) -> str:
        """A session CSRF token from any page the user can open (the logout form has one)."""
        page = web.get("/", follow_redirects=True).text
        match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        assert match, "no CSRF token on the home page"
        return match.group(1)


@pytest.fixture(autouse=True)
def _clean_state():
    """Replaces conftest's per-test wipe: this module shares one world, built once."""
    yield


@pytest.fixture(scope="module")
def world(app):
    with app.app_context():
        _empty_all_tables()
        limiter.reset()
    make = Factory(app)
    w = World(app)
    for key, (role, team) in USERS.items():
        user = make.user(role, team=team, username=f"{key.replace('_', '-')}-{role}")
        w.users[key] = user
        w.ids[key] = user.id
    with app.app_context():
        for pid, name in PROGRAMMES.values():
            db.session.add(Programme(id=pid, name=name, starts_on=date(2025, 1, 1)))
        db.session.commit()
    w.sid = make.survivor(w.users["lead"], **INITIAL,
                          collaborator_ids=[w.ids["cw_collab"], w.ids["counsellor"]])
    w.decoy_sid = make.survivor(w.users["cw_other_team"], **DECOY)
    # closure_reason and closed_at are only set by closing; give them values directly (the
    # case stays open) so that they take part in the matrix like every other field.
    with app.app_context():
        table = Survivor.__table__
        db.session.execute(update(table).where(table.c.id == w.sid).values(
            closure_reason=encrypt_value(table, "closure_reason", w.sid, CLOSURE_REASON),
            closed_at=datetime(2026, 3, 1, 12, tzinfo=UTC)))
        db.session.commit()
    for key, user in w.users.items():
        w.web[key] = login_web(app, user)
        w.api[key] = login_api(app, user)

    # Break the glass through each surface. A grant holds only in the session it was opened
    # in (tests/test_break_glass.py), so each of these supervisors opens it in both of their
    # sessions: "sup_glass_api" first on the API, "sup_glass_page" first on the page.
    for key, order in (("sup_glass_api", ("api", "page")), ("sup_glass_page", ("page", "api"))):
        for surface in order:
            if surface == "api":
                response = w.api[key].post(f"/api/v1/survivors/{w.sid}/break-glass",
                                           json={"reason": GLASS_REASON})
                assert response.status_code == 200, response.json
                assert response.json["survivor_id"] == str(w.sid)
                assert response.json["expires_at"]
            else:
                response = w.web[key].post_form(f"/survivors/{w.sid}/break-glass",
                                                {"reason": GLASS_REASON},
                                                page=f"/survivors/{w.sid}")
                assert response.status_code == 302, response.text[:500]

    w.initial = w.snapshot()
    w.new = new_values(w)
    assert set(w.new) == set(SPECS), "new_values() needs a value for every survivor field"
    for name, (_, stored) in w.new.items():
        if stored is not None:
            assert stored != w.initial[name], f"the new value of {name} equals the initial one"
    yield w
    with app.app_context():
        _empty_all_tables()


def by_key(key: str) -> Context:
    return next(c for c in CONTEXTS if c.key == key)


def test_world_relationships(world):
    """The set-up really gives each context the relationship (and grant) it claims."""
    with world.app.test_request_context("/"):
        survivor = db.session.get(Survivor, world.sid)
        for ctx in CONTEXTS:
            user = db.session.get(User, world.ids[ctx.user])
            assert user.role == ctx.role, ctx.key
            assert access.relationship(user, survivor) == ctx.relationship, ctx.key
            # The grant belongs to the session it was opened in (see the tests below); here:
            # it exists for exactly the contexts that claim one.
            open_grants = db.session.scalar(select(func.count()).select_from(BreakGlassGrant)
                                            .where(BreakGlassGrant.user_id == user.id))
            assert bool(open_grants) == ctx.break_glass, ctx.key


# --- HTML helpers --------------------------------------------------------------------------------

_CONTROL_NAME = re.compile(r'<(?:input|select|textarea)\b[^>]*?\bname="([^"]+)"', re.I)


def control_names(html: str) -> set[str]:
    return set(_CONTROL_NAME.findall(html))


def dt_for(world, name: str) -> str:
    return f'<dt class="col-sm-5">{escape(world.label(name))}</dt>'


# --- the matrix: one case per context × field × surface ------------------------------------------


MATRIX = [
    pytest.param(ctx, name, surface, id=f"{ctx.key}-{name}-{surface}")
    for ctx in CONTEXTS for name in FIELDS for surface in SURFACES
]


@pytest.mark.parametrize(("ctx", "name", "surface"), MATRIX)
def test_field_matrix(world, ctx, name, surface):
    CHECKS[surface](world, ctx, name)


def check_page(world, ctx, name):
    response = world.web[ctx.user].get(f"/survivors/{world.sid}")
    html = response.text
    readable = ctx.readable
    if not readable:
        assert response.status_code == 404, f"{ctx.key}: page should be 404, nothing readable"
    else:
        assert response.status_code == 200, f"{ctx.key}: page should open"
    # The record id is in the URL; the page does not repeat it as a field.
    shown = name in readable and name != "id" and response.status_code == 200
    if shown:
        assert dt_for(world, name) in html, f"{ctx.key}: readable {name} not shown on the page"
    else:
        assert dt_for(world, name) not in html, f"{ctx.key}: unreadable {name} shown on the page"
    marker = PAGE_MARKERS.get(name)
    if marker and name in readable:
        assert str(escape(marker)) in html, f"{ctx.key}: value of readable {name} not on the page"
    elif marker:
        assert marker not in html and str(escape(marker)) not in html, (
            f"{ctx.key}: value of unreadable {name} leaked into the page")


def check_edit_form(world, ctx, name):
    response = world.web[ctx.user].get(f"/survivors/{world.sid}/edit")
    if not ctx.readable:
        assert response.status_code == 404, f"{ctx.key}: edit form should be 404 (unreadable)"
    elif not ctx.writable:
        assert response.status_code == 403, f"{ctx.key}: edit form should be 403 (read-only)"
    else:
        assert response.status_code == 200, f"{ctx.key}: edit form should open"
    names = control_names(response.text)
    if name in ctx.writable:
        assert name in names, f"{ctx.key}: writable {name} has no form control"
    else:
        assert name not in names, f"{ctx.key}: form has a control for unwritable {name}"
    marker = PAGE_MARKERS.get(name)
    if marker and name not in ctx.readable:
        assert marker not in response.text, f"{ctx.key}: {name} leaked into the edit form"


def check_api_read(world, ctx, name):
    response = world.api[ctx.user].get(f"/api/v1/survivors/{world.sid}")
    if not ctx.readable:
        assert response.status_code == 404, f"{ctx.key}: API read should be 404"
        assert response.mimetype == "application/problem+json"
    else:
        assert response.status_code == 200, f"{ctx.key}: API read should succeed"
        body = response.json
        if name in ctx.readable:
            assert name in body, f"{ctx.key}: readable {name} missing from the API"
        else:
            assert name not in body, f"{ctx.key}: unreadable {name} present in the API"
    marker = JSON_MARKERS.get(name)
    if marker and name not in ctx.readable:
        assert marker not in response.text, f"{ctx.key}: {name} leaked into the API response"


def check_api_write(world, ctx, name):
    sent, stored = world.new[name]
    with world.preserved() as before:
        response = world.api[ctx.user].patch(f"/api/v1/survivors/{world.sid}", json={name: sent})
        after = world.snapshot()
        where = f"{ctx.key}: PATCH {name}"
        if not ctx.readable:
            assert response.status_code == 404, f"{where} should be 404, got {response.status_code}"
            assert after == before, f"{where} changed the record"
        elif name in ctx.writable:
            assert response.status_code == 200, f"{where} should succeed: {response.json}"
            assert after[name] == stored, f"{where} was not stored"
            derived = {"updated_at", "age_band"}
            unchanged = {k for k in before if k not in derived and k != name}
            assert {k: after[k] for k in unchanged} == {k: before[k] for k in unchanged}, (
                f"{where} changed other fields")
            assert after["updated_at"] > before["updated_at"], f"{where}: updated_at kept"
        else:
            assert response.status_code == 403, (
                f"{where} should be forbidden, got {response.status_code}: {response.text[:300]}")
            assert response.mimetype == "application/problem+json", where
            assert response.json["fields"] == [name], f"{where}: {response.json}"
            assert after == before, f"{where} was refused but changed the record"


CHECKS = {
    "page": check_page,
    "edit_form": check_edit_form,
    "api_read": check_api_read,
    "api_write": check_api_write,
}


# --- whole-surface checks per context (catch extra fields the per-field cases cannot name) --------


@pytest.mark.parametrize("ctx", CONTEXTS, ids=CONTEXT_IDS)
def test_page_shows_exactly_readable_labels(world, ctx):
    response = world.web[ctx.user].get(f"/survivors/{world.sid}")
    if not ctx.readable:
        assert response.status_code == 404
        return
    shown = set(re.findall(r'<dt class="col-sm-5">([^<]*)</dt>', response.text))
    expected = {str(escape(world.label(n))) for n in ctx.readable if n != "id"}
    assert shown == expected, f"{ctx.key}: extra {shown - expected}, missing {expected - shown}"


@pytest.mark.parametrize("ctx", CONTEXTS, ids=CONTEXT_IDS)
def test_edit_form_has_exactly_writable_controls(world, ctx):
    response = world.web[ctx.user].get(f"/survivors/{world.sid}/edit")
    names = control_names(response.text)
    survivor_controls = names & set(SPECS)
    assert survivor_controls == ctx.writable, ctx.key
    if response.status_code == 200:
        assert names - set(SPECS) == {"csrf_token"}, f"{ctx.key}: unexpected controls"


@pytest.mark.parametrize("ctx", CONTEXTS, ids=CONTEXT_IDS)
def test_api_read_keys_are_exactly_readable(world, ctx):
    response = world.api[ctx.user].get(f"/api/v1/survivors/{world.sid}")
    if not ctx.readable:
        assert response.status_code == 404
        return
    assert response.status_code == 200
    assert set(response.json) == ctx.readable, ctx.key
    assert response.json["id"] == str(world.sid)


def _mixed_cases():
    """(context, forbidden field) for each context that may write something: a derived field,
    and a field of a tier the context may not write where there is one."""
    for ctx in CONTEXTS:
        if not ctx.writable:
            continue
        yield pytest.param(ctx, "case_number", id=f"{ctx.key}-case_number")
        by_tier = [n for n in FIELDS if n not in ctx.writable and not SPECS[n].read_only]
        if by_tier:
            yield pytest.param(ctx, by_tier[0], id=f"{ctx.key}-{by_tier[0]}")


@pytest.mark.parametrize(("ctx", "forbidden"), list(_mixed_cases()))
def test_api_patch_mixing_allowed_and_forbidden_is_refused_whole(world, ctx, forbidden):
    allowed_name = next(n for n in FIELDS if n in ctx.writable)
    with world.preserved() as before:
        response = world.api[ctx.user].patch(f"/api/v1/survivors/{world.sid}", json={
            allowed_name: world.new[allowed_name][0], forbidden: world.new[forbidden][0]})
        assert response.status_code == 403, response.text[:300]
        assert response.mimetype == "application/problem+json"
        assert response.json["fields"] == [forbidden]
        assert world.snapshot() == before, f"{ctx.key}: a refused PATCH changed the record"


def test_supervisor_patch_across_tiers_is_refused_whole(world):
    """A supervisor's PATCH of a writable field plus a forbidden field of every tier, and a
    derived field: refused whole, naming every forbidden field."""
    ctx = by_key("supervisor-team")
    allowed_name = next(n for n in FIELDS if n in ctx.writable)
    forbidden = ["age_band"]
    for tier in TIERS:
        forbidden += [n for n in FIELDS if SPECS[n].tier == tier and n not in ctx.writable
                      and not SPECS[n].read_only][:1]
    assert len(forbidden) >= 4  # demographic, identifying, sensitive + age_band by default
    with world.preserved() as before:
        response = world.api[ctx.user].patch(f"/api/v1/survivors/{world.sid}", json={
            allowed_name: world.new[allowed_name][0], **{n: world.new[n][0] for n in forbidden}})
        assert response.status_code == 403
        assert response.json["fields"] == sorted(forbidden)
        assert world.snapshot() == before


def _form_value(value):
    if value is None:
        return ""
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _form_value_new(sent):
    return [str(v) for v in sent] if isinstance(sent, list) else str(sent)


@pytest.mark.parametrize("ctx", CONTEXTS, ids=CONTEXT_IDS)
def test_page_edit_post_cannot_write_forbidden_fields(world, ctx):
    """A crafted form POST naming every field: only writable ones may change."""
    web = world.web[ctx.user]
    with world.preserved() as before:
        data = {name: _form_value(before[name]) for name in ctx.writable}
        if "status" in ctx.writable:
            data["status"] = "FollowUp"  # proves the POST was processed, not ignored
        for name in set(SPECS) - ctx.writable:
            data[name] = _form_value_new(world.new[name][0])
        data = {k: v for k, v in data.items() if v != []}
        data["csrf_token"] = world.csrf_token(web)
        response = web.client.post(f"/survivors/{world.sid}/edit", data=data)
        after = world.snapshot()
        if not ctx.readable:
            assert response.status_code == 404, ctx.key
        elif not ctx.writable:
            assert response.status_code == 403, ctx.key
        else:
            assert response.status_code == 302, f"{ctx.key}: {response.text[:2000]}"
        expected = dict(before)
        if "status" in ctx.writable:
            expected["status"] = "FollowUp"
            assert after["updated_at"] > before["updated_at"]
            expected["updated_at"] = after["updated_at"]
        changed = {k for k in expected if after[k] != expected[k]}
        assert not changed, f"{ctx.key}: the form POST changed {sorted(changed)}"


# --- lists ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("ctx", CONTEXTS, ids=CONTEXT_IDS)
def test_api_list(world, ctx):
    response = world.api[ctx.user].get("/api/v1/survivors")
    if ctx.role in ("admin", "donor"):  # a donor reaches reports only: 404 (casework/web.py)
        assert response.status_code == (404 if ctx.role == "donor" else 403), ctx.key
        assert response.mimetype == "application/problem+json"
        return
    assert response.status_code == 200, ctx.key
    items = {item["id"]: item for item in response.json["items"]}
    if ctx.key in IN_SCOPE:
        assert str(world.sid) in items, f"{ctx.key}: own survivor missing from the list"
        assert set(items[str(world.sid)]) == ctx.readable, ctx.key
    else:
        assert str(world.sid) not in items, f"{ctx.key}: out-of-scope survivor listed"
        for name, marker in JSON_MARKERS.items():
            assert marker not in response.text, f"{ctx.key}: {name} leaked into the list"
    # The decoy (led by the South caseworker) is listed only to South staff.
    decoy_in_scope = ctx.user in ("cw_other_team", "sup_other_team")
    assert (str(world.decoy_sid) in items) == decoy_in_scope, ctx.key


@pytest.mark.parametrize("ctx", CONTEXTS, ids=CONTEXT_IDS)
def test_page_list(world, ctx):
    response = world.web[ctx.user].get("/survivors/")
    if ctx.role in ("admin", "donor"):  # a donor reaches reports only: 404 (casework/web.py)
        assert response.status_code == (404 if ctx.role == "donor" else 403), ctx.key
        return
    assert response.status_code == 200, ctx.key
    html = response.text
    case_number = world.initial["case_number"]
    if ctx.key in IN_SCOPE:
        assert f"/survivors/{world.sid}" in html and case_number in html, ctx.key
    else:
        assert f"/survivors/{world.sid}" not in html, f"{ctx.key}: out-of-scope survivor listed"
        assert case_number not in html, ctx.key
        for name, marker in PAGE_MARKERS.items():
            assert marker not in html, f"{ctx.key}: {name} leaked into the caseload"
    # The name column is there only for those who may read names without break-glass (a
    # grant opens one record, not the caseload).
    names = READ in permissions(ctx.role, ctx.relationship, SPECS["known_as"].tier)
    if ctx.key in IN_SCOPE and names:
        assert PAGE_MARKERS["known_as"] in html, ctx.key
    else:
        assert PAGE_MARKERS["known_as"] not in html, ctx.key


# --- break-glass is only for a supervisor of the team, with a reason ------------------------------


@pytest.mark.parametrize(("ctx", "status"), [
    (by_key("caseworker-assigned_lead"), 403),
    (by_key("counsellor-assigned"), 403),
    (by_key("caseworker-none"), 404),
    (by_key("supervisor-none"), 404),
    (by_key("admin-none"), 404),
    (by_key("donor-none"), 404),
], ids=lambda v: v.key if isinstance(v, Context) else str(v))
def test_break_glass_refused_outside_supervisor_team(world, ctx, status):
    response = world.api[ctx.user].post(f"/api/v1/survivors/{world.sid}/break-glass",
                                        json={"reason": GLASS_REASON})
    assert response.status_code == status
    token = world.csrf_token(world.web[ctx.user])
    response = world.web[ctx.user].client.post(f"/survivors/{world.sid}/break-glass",
                                               data={"reason": GLASS_REASON, "csrf_token": token})
    assert response.status_code == status
    response = world.api[ctx.user].get(f"/api/v1/survivors/{world.sid}")
    if response.status_code == 200:  # nothing opened
        assert set(response.json) == ctx.readable, ctx.key


def test_break_glass_needs_a_reason(world):
    api = world.api["sup"]
    response = api.post(f"/api/v1/survivors/{world.sid}/break-glass", json={"reason": "because"})
    assert response.status_code == 400
    response = api.post(f"/api/v1/survivors/{world.sid}/break-glass", json={})
    assert response.status_code == 400
    body = api.get(f"/api/v1/survivors/{world.sid}").json
    assert set(body) == by_key("supervisor-team").readable


# --- no user, or a deactivated one: nothing, and a clean 404 rather than a crash -----------------


@pytest.mark.parametrize("who", ["anonymous", "deactivated"])
def test_no_user_or_deactivated_user_is_allowed_nothing(world, who):
    from flask_login import AnonymousUserMixin
    from werkzeug.exceptions import Forbidden, NotFound

    with world.app.test_request_context("/"):
        survivor = db.session.get(Survivor, world.sid)
        if who == "anonymous":
            user = AnonymousUserMixin()
        else:
            user = db.session.get(User, world.ids["lead"])
            user.active = False  # in this session only: rolled back below
        try:
            assert access.relationship(user, survivor) == "none"
            assert access.readable_fields(user, survivor) == set()
            assert access.writable_fields(user, survivor) == set()
            for action in access.guards.ACTIONS:
                assert access.allowed(user, action, survivor) is False, f"{who}: {action}"
            with pytest.raises(NotFound):
                access.require(user, "survivor.read", survivor)
            with pytest.raises(Forbidden):
                access.require(user, "survivor.list")
        finally:
            db.session.rollback()
