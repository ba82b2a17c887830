"""/openapi.json documents what the API really answers: a typed 2xx body for every JSON call and the
`{"error": ...}` body for its 4xx answers, not FastAPI's default `{"detail": [...]}`."""

from __future__ import annotations

import pytest

FILES = {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "text/csv", "application/pdf"}


@pytest.fixture
def spec(client) -> dict:
    return client.get("/openapi.json").json()


def operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if path.startswith("/api"):
                yield path, method, op


def test_every_api_call_documents_a_typed_success_body(spec):
    missing = []
    for path, method, op in operations(spec):
        success = {code: r for code, r in op["responses"].items() if code.startswith("2")}
        assert success, (method, path)
        for code, response in success.items():
            content = response.get("content", {})
            if FILES & set(content) and "application/json" not in content:
                continue  # a file download
            schema = content.get("application/json", {}).get("schema", {})
            if "$ref" not in schema and not schema.get("anyOf") and not schema.get("properties"):
                missing.append(f"{method.upper()} {path} {code}")
    assert missing == []


def test_every_api_call_documents_the_real_error_body(spec):
    error = spec["components"]["schemas"]["ErrorBody"]
    assert set(error["properties"]) == {"error"}
    for path, method, op in operations(spec):
        for code in ("401", "403", "404", "409", "422"):
            schema = op["responses"][code]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, code)
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_the_documented_error_body_is_what_a_refusal_answers(api, year_2018):
    r = api.post("office", "/years/2018/districts/中山区/findings", {"clause": "no.such"})
    assert r.status_code == 422
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == "invalid" and body["error"]["field"] == "clause"


def test_a_documented_success_body_is_what_a_call_answers(api, year_2018, spec):
    ranking = spec["components"]["schemas"]["Ranking"]
    body = api.get("auditor", "/years/2018/scores").json()
    assert set(ranking["required"]) <= set(body)
    assert isinstance(body["districts"][0]["total"], (int, float))
