"""The OpenAPI document describes every route fully enough for Swagger and generated clients."""

from __future__ import annotations

from fastapi.testclient import TestClient


def operations(client: TestClient):
    spec = client.get("/openapi.json").json()
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            yield spec, path, method, operation


def test_every_operation_has_id_tag_summary_and_error_model(client: TestClient) -> None:
    ids = []
    for _spec, path, method, operation in operations(client):
        ids.append(operation["operationId"])
        assert operation["tags"], (method, path)
        assert operation.get("description") or operation.get("summary"), (method, path)
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/ErrorEnvelope"), (method, path, status)
    assert len(ids) == len(set(ids))
    assert "create_project" in ids and "list_projects" in ids


def test_operation_ids_are_stable_names(client: TestClient) -> None:
    ids = {(path, method): op["operationId"] for _s, path, method, op in operations(client)}
    assert ids[("/projects/{name}", "get")] == "get_project"
    assert ids[("/health", "get")] == "health"


def test_authenticated_routes_declare_bearer_security(client: TestClient) -> None:
    for _spec, path, _method, operation in operations(client):
        if path.startswith(("/projects", "/v1")):
            assert operation.get("security") == [{"HTTPBearer": []}], path
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_create_project_has_an_example(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schema = spec["components"]["schemas"]["ProjectCreate"]
    assert schema["examples"][0]["name"] == "support-bot"


def test_docs_page_is_served(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200 and "swagger" in response.text.lower()


def test_auth_off_declares_no_security(app_factory) -> None:
    """With TUNING_AUTH=off nothing asks for a key, and the document says so."""
    from app.config import AuthSettings

    client = app_factory(auth=AuthSettings(mode="off"))
    spec = client.get("/openapi.json").json()
    assert "securitySchemes" not in spec.get("components", {})
    for _path, methods in spec["paths"].items():
        for operation in methods.values():
            assert "security" not in operation and "401" not in operation["responses"]
    assert client.get("/projects").status_code == 200, "and indeed no key is needed"
