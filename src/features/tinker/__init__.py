"""The Tinker-compatible interactive training API (`/api/v1/`), for the official `tinker` SDK."""
