"""The attack tests reuse the feature fixtures: the scripted trainer's runs, the stand-in model server."""

from tests.features.deployments.conftest import deploy_client, model_roots  # noqa: F401
from tests.features.runs.conftest import runs_client, training_dir  # noqa: F401
