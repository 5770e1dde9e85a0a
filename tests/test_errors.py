"""Bad input gets a clear bilingual 4xx, never a 500, a hang or silent acceptance."""
from __future__ import annotations

from tests.world import err as _err


def test_malformed_json(client, world):
    r = client.post("/api/institutions", headers={**world.h("admin"), "Content-Type": "application/json"},
                    content=b'{"name": ')
    assert _err(r, 400)["code"] == "MALFORMED_JSON"


def test_json_must_be_an_object(client, world):
    r = client.post("/api/institutions", headers=world.h("admin"), json=[1, 2])
    assert _err(r, 400)["code"] == "JSON_OBJECT_EXPECTED"


def test_wrong_type_names_the_field(client, world):
    r = client.post("/api/institutions", headers=world.h("admin"), json={
        "name": 12, "code": "AB", "region_code": "150104", "profile": "hohhot"})
    err = _err(r, 422)
    assert err["field"] == "name" and err["rule"] == "string_type"


def test_unknown_field_refused(client, world):
    r = client.post("/api/institutions", headers=world.h("admin"), json={
        "name": "x", "code": "AB", "region_code": "150104", "profile": "hohhot", "is_admin": True})
    err = _err(r, 422)
    assert err["code"] == "UNKNOWN_FIELD" and err["field"] == "is_admin"


def test_missing_field(client, world):
    r = client.post("/api/institutions", headers=world.h("admin"), json={"name": "x"})
    err = _err(r, 422)
    assert err["rule"] == "missing" and len(err["details"]) == 3


def test_wrong_content_type(client, world):
    r = client.post("/api/institutions", headers={**world.h("admin"), "Content-Type": "text/plain"}, content=b"hi")
    assert _err(r, 415)["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_oversized_json_body(client, world, svc):
    big = b'{"name": "' + b"x" * (svc.settings.max_json_bytes + 10) + b'"}'
    r = client.post("/api/institutions", headers={**world.h("admin"), "Content-Type": "application/json"}, content=big)
    assert _err(r, 413)["code"] == "PAYLOAD_TOO_LARGE"


def test_unknown_route_and_method(client, world):
    assert _err(client.get("/api/nothing-here"), 404)["code"] == "NOT_FOUND"
    assert _err(client.delete("/api/me", headers=world.h("admin")), 405)["code"] == "METHOD_NOT_ALLOWED"


def test_non_numeric_path_id_is_404_not_500(client, world):
    assert client.get("/api/classes/abc", headers=world.h("admin")).status_code == 404
    assert client.get("/api/classes/999999", headers=world.h("admin")).status_code == 404


def test_bad_query_parameter(client, world):
    r = client.get("/api/calendar/workdays?from=2025-13-01&to=2025-10-10")
    assert _err(r, 422)["field"] == "from"


def test_openapi_and_docs_served(client):
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert "/api/classes/{class_id}/transitions" in spec["paths"]
    assert "Error" in spec["components"]["schemas"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "openapi.json" in docs.text
