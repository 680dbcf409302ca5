"""Ids shared by the response examples in the OpenAPI document.

The examples tell one story, so an id seen in one answer is the id the next one names:
alice uploads `support-chats`, trains `tuning/tiny-demo` on it as job `job-3f9c2a7b1d4e`,
runs a project run on GPU 0 and serves a model on GPU 1.
"""

from __future__ import annotations

DATASET_ID = "01a22bb7-de40-7c3e-9b1a-5f2d8e6a4c17"
UPLOAD_ID = "01a22bb7-ede0-7d05-8a6e-3c9f0b2d71e4"
TRAIN_CONFIG_ID = "01a22bb9-b300-7f21-a4d8-6e0c3b95f2a8"
SLOT_CONFIG_ID = "01a22bb9-c1a4-7e3b-8f62-0d9a4c7e1b35"
RUN_ID = "run-01a22bba28307a61b2c94e0d5f83"
JOB_ID = "job-3f9c2a7b1d4e"
JOB_RUN_ID = "run-01a22bbc72207b4e9c15d3a8f26e"
BASE_MODEL = "tuning/tiny-demo"
FINE_TUNED_MODEL = "tuning/tiny-demo-support-20261130-091500"
ARTIFACT_ID = "01a22bc2-88b8-7c4d-a1e6-5b9f3d07c2e8"
DEID_POLICY_ID = "01a22bb3-4a60-7b2f-9e84-c1d7a05f3e26"
DEID_JOB_ID = "01a22bc2-ee48-7a9d-8c31-4b7e2f06d5a9"
DEID_OUTPUT_DATASET_ID = "01a22bc2-ee4a-7e12-b5f0-9d3c6a1e8b74"
DEPLOYMENT_ID = "dep-7e21c4a9b03f"
