"""The wire contract: request/response models, enums, envelopes."""
