"""The attack tests reuse the feature fixtures: an app whose engine runs the scripted trainer."""

from tests.features.runs.conftest import runs_client, training_dir  # noqa: F401
