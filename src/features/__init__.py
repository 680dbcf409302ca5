"""Feature packages: each has `api.py` (the router) and `service.py` (the logic)."""
