"""Spreadsheet import of survivors (casework/imports): CLI, XLSX, the admin page.

Every person in these files is synthetic (Faker, seeded)."""

from __future__ import annotations

import csv
import io
import random
import re
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from faker import Faker
from sqlalchemy import func, select

from casework.audit.models import AuditEvent
from casework.extensions import db
from casework.survivors.models import CaseNumberCounter, Survivor
from casework.survivors.search import SurvivorSearchKey

from .conftest import csrf_from, login_web

EXAMPLE_MAPPING = Path(__file__).parents[1] / "casework" / "imports" / "example-mapping.toml"
HEADINGS = ["Ref", "First name", "Surname", "Nickname", "DOB", "Sex", "Nationality", "Language", "Intake",
            "Referred by", "Status", "Exploitation", "Phone", "Email", "Address", "Story",
            "Risk"]
ROWS = 5000
BAD_ROWS = 37
# One fault each, in turn: (column, bad value).
FAULTS = [
    ("DOB", "31/02/1990"),  # no such date
    ("Sex", "Q"),  # not in [values.gender], not a value name
    ("Intake", ""),  # the required intake date is missing
    ("Email", "not-an-email"),
    ("Intake", "01/01/2099"),  # in the future
    ("Exploitation", "labour;piracy"),  # one unknown item of a list
    ("Phone", "call me maybe"),
    ("Nationality", "ZZ"),  # no such country
    ("Risk", "extreme"),
]


def _people(n: int, seed: int = 9) -> list[dict]:
    fake = Faker(["en_GB", "es_ES", "vi_VN"])
    Faker.seed(seed)
    rnd = random.Random(seed)
    # Distinct birth dates and phones: no two synthetic people are the same person.
    births = rnd.sample(range(16000), n)
    people = []
    for i in range(n):
        people.append({
            "Ref": f"OLD-{i:05d}",
            "First name": fake.first_name(),
            "Surname": fake.last_name(),
            "Nickname": fake.first_name() if i % 7 == 0 else "",
            "DOB": (date(1960, 1, 1) + timedelta(days=births[i])).strftime("%d/%m/%Y"),
            "Sex": rnd.choice(["F", "M", "f", "X", "?", "Feminine"]),
            "Nationality": rnd.choice(["VN", "TH;KH", "GB", "ES;MA", ""]),
            "Language": rnd.choice(["vi", "th", "en", "es", ""]),
            "Intake": (date(2024, 1, 1) + timedelta(days=rnd.randrange(600))).strftime("%d/%m/%Y"),
            "Referred by": rnd.choice(["self", "police", "Hotline", "ngo", ""]),
            "Status": rnd.choice(["possible", "confirmed", ""]),
            "Exploitation": rnd.choice(["labour", "sex; begging", "domestic", ""]),
            "Phone": f"+44 7700 {900000 + i:06d}",
            "Email": f"person{i}@example.org" if i % 3 else "",
            "Address": fake.address().replace("\n", ", ") if i % 4 == 0 else "",
            "Story": fake.sentence(nb_words=12) if i % 5 == 0 else "",
            "Risk": rnd.choice(["L", "M", "H", ""]),
        })
    return people


def _csv(people: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HEADINGS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(people)
    return out.getvalue().encode("utf-8")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The fixed file, the same with 37 broken rows, their spreadsheet row numbers."""
    people = _people(ROWS)
    broken = [dict(p) for p in people]
    chosen = sorted(random.Random(37).sample(range(ROWS), BAD_ROWS))
    for n, index in enumerate(chosen):
        column, value = FAULTS[n % len(FAULTS)]
        broken[index][column] = value
    folder = tmp_path_factory.mktemp("import")
    good, bad = folder / "survivors.csv", folder / "survivors-broken.csv"
    good.write_bytes(_csv(people))
    bad.write_bytes(_csv(broken))
    mapping = folder / "mapping.toml"
    # The shipped example mapping, plus the column the example leaves out.
    mapping.write_text(EXAMPLE_MAPPING.read_text(encoding="utf-8").replace(
        'assign_to = "cw.amina"', 'assign_to = "cw.import"'), encoding="utf-8")
    return {"good": good, "bad": bad, "mapping": mapping, "bad_rows": [i + 2 for i in chosen],
            "people": people}


def _counts(app) -> dict:
    with app.app_context():
        return {model.__name__: db.session.scalar(select(func.count()).select_from(model))
                for model in (Survivor, SurvivorSearchKey, CaseNumberCounter)}


def _events(app, action) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _import(app, path, mapping, *extra):
    runner = app.test_cli_runner()
    return runner.invoke(args=["import", "survivors", str(path), "--mapping", str(mapping),
                               *extra])


@pytest.fixture
def caseworker(make):
    return make.user("caseworker", username="cw.import", display_name="Import Lead")


def test_dry_run_reports_exactly_the_bad_rows_and_writes_nothing(app, files, caseworker):
    before = _counts(app)
    started = time.perf_counter()
    result = _import(app, files["bad"], files["mapping"], "--dry-run")
    elapsed = time.perf_counter() - started
    assert result.exit_code == 1, result.output
    reported = sorted({int(m.group(1)) for m in re.finditer(r"^  row (\d+)[,:]",
                                                             result.output, re.MULTILINE)})
    assert reported == files["bad_rows"]
    assert f"{ROWS} row(s)" in result.output and f"{BAD_ROWS} with errors" in result.output
    assert 'column "DOB": Enter a date like 31/12/1990.' in result.output
    assert "“Q” is not one of the allowed values." in result.output
    assert "Enter the intake date." in result.output
    assert "Not allowed here: piracy." in result.output
    assert _counts(app) == before  # no survivor, search key nor case number
    (event,) = _events(app, "import.checked")
    assert event.actor_username == "cli" and "37 with errors" in event.reason
    print(f"dry run of {ROWS} rows: {elapsed:.1f}s")


def test_import_all_then_again_creates_no_duplicates(app, files, caseworker):
    started, cpu = time.perf_counter(), time.process_time()
    result = _import(app, files["good"], files["mapping"])
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert result.exit_code == 0, result.output
    assert f"{ROWS} imported for caseworker cw.import" in result.output
    counts = _counts(app)
    assert counts["Survivor"] == ROWS
    with app.app_context():
        leads = set(db.session.scalars(select(Survivor.lead_caseworker_id)))
        assert leads == {caseworker.id}
        # Values went through the mapping and the service: HTCDS names, dates, lists.
        person = files["people"][0]  # the first case number of its intake year
        first = db.session.scalar(select(Survivor).where(
            Survivor.case_number == f"CW-{person['Intake'][-4:]}-000001"))
        assert (first.first_name, first.last_name) == (person["First name"], person["Surname"])
        assert first.date_of_birth.strftime("%d/%m/%Y") == person["DOB"]
        assert first.phone == person["Phone"] and first.age_band
        # Encrypted at rest: the stored column is not the name.
        raw = db.session.execute(select(Survivor.__table__.c.first_name)
                                 .where(Survivor.id == first.id)).scalar()
        assert person["First name"].encode() not in bytes(raw or b"")
    assert len(_events(app, "survivor.created")) == ROWS
    assert len(_events(app, "survivor.imported")) == ROWS
    (done,) = _events(app, "import.completed")
    assert done.actor_username == "cli" and f"{ROWS} created" in done.reason

    started_again = time.perf_counter()
    again = _import(app, files["good"], files["mapping"])
    elapsed_again = time.perf_counter() - started_again
    assert again.exit_code == 0, again.output
    assert f"{ROWS} duplicate(s); 0 imported" in again.output
    assert "row 2 matches case CW-" in again.output
    assert _counts(app) == counts
    print(f"import of {ROWS} rows: {elapsed:.1f}s ({cpu:.1f}s CPU in the app); again (all duplicates): {elapsed_again:.1f}s")


def test_an_import_with_bad_rows_writes_nothing(app, files, caseworker):
    before = _counts(app)
    result = _import(app, files["bad"], files["mapping"])
    assert result.exit_code == 1
    assert "Errors (nothing was imported):" in result.output
    assert _counts(app) == before
    assert len(_events(app, "import.refused")) == 1


def test_an_import_failing_halfway_leaves_the_database_as_it_was(app, files, caseworker,
                                                                  make, monkeypatch):
    from casework.survivors import service

    make.survivor(caseworker, first_name="Existing", last_name="Person")
    before = _counts(app)
    real_create = service.create
    calls = {"n": 0}

    def failing_create(user, data):
        calls["n"] += 1
        if calls["n"] == 2500:
            raise RuntimeError("disk on fire")
        return real_create(user, data)

    monkeypatch.setattr(service, "create", failing_create)
    result = _import(app, files["good"], files["mapping"])
    assert result.exit_code == 1
    assert "stopped at row 2501" in result.output and "nothing was imported" in result.output
    assert calls["n"] == 2500
    assert _counts(app) == before
    assert _events(app, "survivor.imported") == []
    assert len(_events(app, "import.failed")) == 1
    with app.app_context():
        from casework.audit import verify

        assert verify().ok


def test_within_file_duplicates_and_matching_is_strict(app, make, caseworker, tmp_path):
    make.survivor(caseworker, first_name="Lan", last_name="Nguyen",
                  date_of_birth=date(1990, 3, 4))
    rows = [
        ["first", "last", "dob", "intake"],
        ["Lan", "Nguyễn", "1990-03-04", "2026-01-02"],  # matches the survivor on record
        ["Lan", "Nguyen", "1991-03-04", "2026-01-02"],  # same name, another birth date: new
        ["Hoa", "Tran", "1985-07-01", "2026-01-02"],
        ["HOA", "TRAN", "1985-07-01", "2026-01-03"],  # repeats row 4
        ["Hoa", "Tran", "", "2026-01-03"],  # no birth date, phone nor email: new
        ["John", "John", "1970-01-01", "2026-01-03"],
        ["john", "JOHN", "1970-01-01", "2026-01-03"],  # repeats row 7 ("John John": two parts)
        ["Lan", "", "1990-03-04", "2026-01-03"],  # one name part is not enough: new
    ]
    path = tmp_path / "people.csv"
    path.write_text("\n".join(",".join(r) for r in rows), encoding="utf-8")
    mapping = tmp_path / "m.toml"
    mapping.write_text('[columns]\nfirst = "first_name"\nlast = "last_name"\n'
                       'dob = "date_of_birth"\nintake = "intake_date"\n', encoding="utf-8")
    result = _import(app, path, mapping, "--caseworker", "CW.IMPORT")
    assert result.exit_code == 0, result.output
    assert "row 2 matches case CW-2026-000001" in result.output
    assert "row 5 repeats row 4 of this file" in result.output
    assert "row 8 repeats row 7 of this file" in result.output
    assert "3 duplicate(s); 5 imported" in result.output
    assert _counts(app)["Survivor"] == 6


def test_a_dry_run_lists_duplicates_besides_errors(app, make, caseworker, tmp_path):
    make.survivor(caseworker, first_name="Mai", last_name="Pham", date_of_birth=date(1994, 2, 3))
    path = tmp_path / "p.csv"
    path.write_text("first,last,dob\nMai,Pham,1994-02-03\nBad,Date,1994-02-30\n",
                    encoding="utf-8")
    mapping = tmp_path / "m.toml"
    mapping.write_text('[columns]\nfirst = "first_name"\nlast = "last_name"\n'
                       'dob = "date_of_birth"\n', encoding="utf-8")
    result = _import(app, path, mapping, "--caseworker", caseworker.username, "--dry-run")
    assert result.exit_code == 1
    assert 'row 3, column "dob": Enter a date as YYYY-MM-DD.' in result.output
    assert "row 2 matches case CW-2026-000001" in result.output


def test_refusals_before_any_row(app, make, caseworker, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("Name,Born\nAna,1990-01-01\n", encoding="utf-8")
    mapping = tmp_path / "m.toml"
    mapping.write_text('[columns]\nName = "first_name"\nMissing = "last_name"\n'
                       'Born = "case_number"\n', encoding="utf-8")
    result = _import(app, path, mapping, "--caseworker", caseworker.username)
    assert result.exit_code == 1
    assert "“case_number” is not a survivor field that can be imported" in result.output
    mapping.write_text('[columns]\nName = "first_name"\nMissing = "last_name"\n',
                       encoding="utf-8")
    result = _import(app, path, mapping, "--caseworker", caseworker.username)
    assert "The file has no column “Missing”" in result.output
    counsellor = make.user("counsellor")
    mapping.write_text('[columns]\nName = "first_name"\n', encoding="utf-8")
    result = _import(app, path, mapping, "--caseworker", counsellor.username)
    assert "is not an active caseworker" in result.output
    result = _import(app, path, mapping)
    assert "Name the caseworker" in result.output
    assert _counts(app)["Survivor"] == 0


XLSX_MAPPING = """
[options]
date_format = "%d/%m/%Y"
[columns]
"First name" = "first_name"
"Surname" = "last_name"
"DOB" = "date_of_birth"
"Sex" = "gender"
"Intake" = "intake_date"
"Exploitation" = "exploitation_types"
"Phone" = "phone"
"Risk" = "risk_level"
[values.gender]
F = "Feminine"
M = "Masculine"
[values.exploitation_types]
labour = "ForcedLabour"
sex = "SexualExploitation"
[values.risk_level]
L = "low"
H = "high"
"""


def _xlsx(rows: list[list]) -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_xlsx_with_date_cells_numbers_and_value_maps(app, caseworker, tmp_path):
    from datetime import datetime

    mapping = tmp_path / "xlsx.toml"
    mapping.write_text(XLSX_MAPPING, encoding="utf-8")

    path = tmp_path / "people.xlsx"
    path.write_bytes(_xlsx([
        ["First name", "Surname", "DOB", "Sex", "Intake", "Exploitation", "Phone", "Risk"],
        ["Mai", "Pham", datetime(1994, 2, 3), "F", date(2025, 11, 2), "labour; sex",
         447700900123, "H"],
        [None, None, None, None, None, None, None, None],  # a blank row is skipped
        ["Tomás", "García", "03/04/1988", "M", "2025-10-01", "", "+34 600 000 001", "L"],
        ["Bad", "Date", "1988-13-40", "F", date(2025, 1, 1), "", "", ""],
    ]))
    result = _import(app, path, mapping, "--caseworker", caseworker.username,
                     "--dry-run")
    assert result.exit_code == 1
    assert 'row 5, column "DOB": Enter a date like 31/12/1990.' in result.output
    assert "(1 blank skipped)" in result.output
    path.write_bytes(_xlsx([
        ["First name", "Surname", "DOB", "Sex", "Intake", "Exploitation", "Phone", "Risk"],
        ["Mai", "Pham", datetime(1994, 2, 3), "F", date(2025, 11, 2), "labour; sex",
         447700900123, "H"],
        ["Tomás", "García", "03/04/1988", "M", "2025-10-01", "", "+34 600 000 001", "L"],
    ]))
    result = _import(app, path, mapping, "--caseworker", caseworker.username)
    assert result.exit_code == 0, result.output
    with app.app_context():
        mai = db.session.scalar(select(Survivor).order_by(Survivor.case_number).limit(1))
        assert mai.gender == "Feminine" and mai.risk_level == "high"
        assert mai.exploitation_types == ["ForcedLabour", "SexualExploitation"]
        assert mai.date_of_birth == date(1994, 2, 3) and mai.phone == "447700900123"
        assert mai.intake_date == date(2025, 11, 2)


# --- the admin page ------------------------------------------------------------------------------

SMALL_CSV = ("First name,Surname,DOB,Sex,Intake,Phone\r\n"
             "Ana,Silva,01/02/1990,F,03/01/2026,+351 910 000 001\r\n"
             "Bea,Costa,02/03/1991,X,04/01/2026,+351 910 000 002\r\n")


SMALL_MAPPING = """
[options]
date_format = "%d/%m/%Y"
[columns]
"First name" = "first_name"
Surname = "last_name"
DOB = "date_of_birth"
Sex = "gender"
Intake = "intake_date"
Phone = "phone"
[values.gender]
F = "Feminine"
X = "NonConforming"
"""


def _post(client, data, files):
    page = client.get("/admin/import")
    assert page.status_code == 200
    form = {**data, "csrf_token": csrf_from(page.text)}
    for name, (content, filename) in files.items():
        form[name] = (io.BytesIO(content), filename)
    return client.client.post("/admin/import", data=form, content_type="multipart/form-data")


def test_admin_checks_then_imports_through_the_page(app, make, caseworker):
    admin = make.user("admin")
    web = login_web(app, admin)
    mapping = SMALL_MAPPING
    assert "Import" in web.get("/admin/users").text
    bad = SMALL_CSV.replace("X,04/01", "Z,04/01")
    checked = _post(web, {"mapping_text": mapping, "caseworker": caseworker.username,
                          "check": "1"}, {"spreadsheet": (bad.encode(), "people.csv")})
    assert checked.status_code == 200
    assert "“Z” is not one of the allowed values." in checked.text
    assert 'data-error-rows="1"' in checked.text
    # Importing a file that was not checked first is refused.
    unchecked = _post(web, {"mapping_text": mapping, "caseworker": caseworker.username,
                            "run": "1"}, {"spreadsheet": (SMALL_CSV.encode(), "people.csv")})
    assert unchecked.status_code == 422 and "Check this file first" in unchecked.text
    assert _counts(app)["Survivor"] == 0
    checked = _post(web, {"caseworker": caseworker.username, "check": "1"},
                    {"spreadsheet": (SMALL_CSV.encode(), "people.csv"),
                     "mapping_file": (mapping.encode(), "mapping.toml")})
    assert checked.status_code == 200 and 'data-to-create="2"' in checked.text
    assert _counts(app)["Survivor"] == 0
    imported = _post(web, {"caseworker": caseworker.username, "run": "1"},
                     {"spreadsheet": (SMALL_CSV.encode(), "people.csv"),
                      "mapping_file": (mapping.encode(), "mapping.toml")})
    assert imported.status_code == 200, imported.text[:2000]
    assert 'data-created="2"' in imported.text
    assert _counts(app)["Survivor"] == 2
    (event,) = _events(app, "import.completed")
    assert event.actor_id == admin.id and event.reason.startswith("people.csv: 2 rows")
    # The same file again: both rows are duplicates.
    again = _post(web, {"mapping_text": mapping, "caseworker": caseworker.username,
                        "check": "1"}, {"spreadsheet": (SMALL_CSV.encode(), "people.csv")})
    assert 'data-duplicates="2"' in again.text
    # An admin may not read survivors' case numbers (the access policy): the match is named
    # without one. The command line, run by the server's operator, names the case.
    assert "row 2 matches a survivor already on record" in again.text
    assert "matches case" not in again.text


def test_the_page_needs_csrf_a_file_and_an_admin(app, make, caseworker):
    admin = make.user("admin")
    web = login_web(app, admin)
    no_csrf = web.client.post("/admin/import", data={
        "caseworker": caseworker.username, "check": "1",
        "spreadsheet": (io.BytesIO(SMALL_CSV.encode()), "people.csv")},
        content_type="multipart/form-data")
    assert no_csrf.status_code == 400
    wrong = _post(web, {"mapping_text": "[columns]\n", "caseworker": caseworker.username,
                        "check": "1"}, {"spreadsheet": (b"x", "people.pdf")})
    assert wrong.status_code == 422 and "Give a .csv or .xlsx file." in wrong.text
    for role in ("caseworker", "supervisor", "counsellor"):
        assert login_web(app, make.user(role)).get("/admin/import").status_code == 403
    assert login_web(app, make.user("donor")).get("/admin/import").status_code == 404
    assert _counts(app)["Survivor"] == 0
