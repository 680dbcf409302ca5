"""The OpenAPI document describes every route fully enough for Swagger and generated clients."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

import src.models
from app.factory import response_models
from src.models.common import declared_examples

# 2xx answers that are not JSON, so no JSON example can describe them.
NON_JSON_SUCCESSES = {
    ("get", "/metrics"): "Prometheus text exposition format",
    (
        "get",
        "/runs/{run_id}/logs/stream",
    ): "server-sent events, one per log line, for as long as the run lasts",
    ("get", "/runs/{run_id}/artifacts/{artifact_id}/content"): "the artifact's bytes",
    ("get", "/v1/datasets/{dataset_id}/files/{upload_id}/content"): "the uploaded file's bytes",
    ("get", "/v1/train-configs/{config_id}/content"): "the YAML text as uploaded",
    ("get", "/v1/files/{file_id}/content"): "a file's bytes: JSON lines, a metrics CSV or a model tar",
    ("post", "/api/v1/retrieve_future"): "a protobuf result (the tinker SDK reads ForwardBackwardOutput so)",
    ("get", "/v1/checkpoints/{checkpoint_id}/archive"): "a .tar.gz of a saved adapter's files",
}


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


def declared_models() -> set[type[BaseModel]]:
    """Every pydantic model `src.models` defines or names (`ProjectPage = Page[ProjectDetail]`)."""
    found = set()
    for info in pkgutil.iter_modules(src.models.__path__):
        module = importlib.import_module(f"src.models.{info.name}")
        found |= {
            value
            for value in vars(module).values()
            if isinstance(value, type) and issubclass(value, BaseModel) and value is not BaseModel
        }
    return found


def test_every_model_example_validates_against_its_model(client: TestClient) -> None:
    """Examples cannot drift from the models they describe, request bodies' included."""
    models = declared_models() | {model for *_, model in response_models(client.app)}
    checked = 0
    for model in models:
        for example in declared_examples(model):
            model.model_validate(example)
            checked += 1
    assert checked >= 50


def test_every_json_success_has_an_example(client: TestClient) -> None:
    non_json = set()
    for spec, path, method, operation in operations(client):
        for status, response in operation["responses"].items():
            if not status.startswith("2"):
                continue
            for media_type, media in response.get("content", {}).items():
                if media_type != "application/json":
                    non_json.add((method, path))
                    continue
                schema = media["schema"]
                if "$ref" in schema:
                    schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
                has_example = "example" in media or "examples" in media or schema.get("examples")
                assert has_example, (method, path, status)
    assert non_json == set(NON_JSON_SUCCESSES), (
        "a new non-JSON answer: add it with the reason, or give it JSON"
    )


def test_response_examples_in_the_document_are_whole_answers(client: TestClient) -> None:
    """Each example is what the service would send: every field, `null`s included, as serialised."""
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    routes = list(response_models(client.app))
    assert len(routes) > 60, "the walk finds the routes the document describes"
    for path, method, status, model in routes:
        schema = spec["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
        examples = schemas[schema["$ref"].rsplit("/", 1)[-1]]["examples"]
        for example in examples:
            assert model.model_validate(example).model_dump(mode="json") == example, (method, path)


def test_examples_keep_their_written_order(client: TestClient) -> None:
    """The id first, as the service answers, not sorted as pydantic would have it."""
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    (run,) = schemas["RunRead"]["examples"]
    assert list(run)[:3] == ["id", "object", "project"] and run["error"] is None


@pytest.mark.parametrize(
    ("schema", "item"), [("Page_ProjectDetail_", "ProjectDetail"), ("Page_RunRead_", "RunRead")]
)
def test_a_page_shows_its_item_example(client: TestClient, schema: str, item: str) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    (page,) = schemas[schema]["examples"]
    assert page["data"] == schemas[item]["examples"][:1] and page["has_more"] is False
