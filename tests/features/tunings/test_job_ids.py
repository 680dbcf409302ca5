"""A job id in a path: one no job can have is not found (404), like an unknown one, never a 422."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.features.tunings.conftest import ALICE

ROUTES = [
    ("GET", "/v1/tunings.get/{}"),
    ("POST", "/v1/tunings.cancel/{}"),
    ("DELETE", "/v1/tunings.cancel/{}"),
    ("GET", "/v1/tunings.metrics/{}"),
    ("DELETE", "/v1/tunings.delete/{}"),
    ("GET", "/v1/fine_tuning/jobs/{}"),
    ("POST", "/v1/fine_tuning/jobs/{}/cancel"),
    ("GET", "/v1/fine_tuning/jobs/{}/events"),
    ("GET", "/v1/fine_tuning/jobs/{}/checkpoints"),
]


MALFORMED = ["job-doesnotexist", "JOB-0123456789AB", "job-0123456789abc", "x", "job-%00"]


def test_an_id_no_job_has_is_not_found(client: TestClient) -> None:
    for method, route in ROUTES:
        for job_id in [*MALFORMED, "job-000000000000"]:
            response = client.request(method, route.format(job_id), headers=ALICE)
            assert response.status_code == 404, (method, route, job_id, response.text)
            error = response.json()["error"]
            assert (error["type"], error["code"], error["param"]) == ("not_found_error", "not_found", "id")
            assert error["message"].startswith("tuning job '") and error["message"].endswith("' not found")


def test_an_absurdly_long_id_is_refused_before_any_lookup(client: TestClient) -> None:
    response = client.get(f"/v1/tunings.get/job-{'0' * 61}", headers=ALICE)
    assert response.status_code == 422
    assert client.get(f"/v1/tunings.get/job-{'0' * 60}", headers=ALICE).status_code == 404


def test_without_a_key_the_answer_is_401_whatever_the_id(client: TestClient) -> None:
    for job_id in ("job-doesnotexist", "job-000000000000"):
        response = client.get(f"/v1/tunings.get/{job_id}")
        assert response.status_code == 401 and response.json()["error"]["code"] == "missing_api_key"
