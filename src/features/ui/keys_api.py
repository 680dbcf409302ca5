"""Dashboard pages: keys (see src/features/ui/web.py for what every page shares)."""

from __future__ import annotations

from fastapi import APIRouter

from src.features.ui.web import UI_PREFIX

router = APIRouter(prefix=UI_PREFIX, include_in_schema=False)
