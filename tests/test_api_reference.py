"""The API reference page, rendered in the app from the OpenAPI document."""

from __future__ import annotations

import html

import pytest

from .conftest import login_web


@pytest.fixture
def document(app):
    return app.test_client().get("/api/v1/openapi.json").json


def test_every_operation_of_the_document_is_on_the_page(app, make, document):
    page = login_web(app, make.user("caseworker")).get("/api-reference")
    assert page.status_code == 200
    text = html.unescape(page.text)
    for path, item in document["paths"].items():
        for method in ("get", "post", "patch", "delete"):
            if method in item:
                assert f"{method.upper()}</span><code dir=\"ltr\">{path}</code>" in text, (
                    method, path)
                if item[method].get("summary"):
                    assert item[method]["summary"] in text


def test_the_page_shows_fields_errors_and_authentication(app, make):
    text = html.unescape(login_web(app, make.user("supervisor")).get("/api-reference").text)
    assert 'id="schema-Survivor"' in text and "<code>first_name</code>" in text
    assert "Tier: identifying." in text  # the field descriptions come from the schemas
    assert 'id="schema-Problem"' in text and "application/problem+json" in text
    assert "Authorization: Bearer" in text
    assert "/api/v1/openapi.json" in text
    assert "<code>Active</code>" in text  # vocabularies listed


@pytest.mark.parametrize("role", ["caseworker", "counsellor", "supervisor", "admin"])
def test_staff_reach_it(app, make, role):
    assert login_web(app, make.user(role)).get("/api-reference").status_code == 200


def test_donors_do_not_and_anonymous_visitors_are_sent_to_log_in(app, make):
    assert login_web(app, make.user("donor")).get("/api-reference").status_code == 404
    response = app.test_client().get("/api-reference")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
