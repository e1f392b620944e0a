from tests.conftest import login_api, login_web


def test_caseworker_sees_own_survivor(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw, known_as="Lotus")
    web = login_web(app, cw)
    page = web.get(f"/survivors/{sid}")
    assert page.status_code == 200
    assert "Lotus" in page.text
    api = login_api(app, cw)
    assert api.get(f"/api/v1/survivors/{sid}").json["known_as"] == "Lotus"
