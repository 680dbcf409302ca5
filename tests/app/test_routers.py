"""app/routers.py lists every router, and each serves only the paths written beside it."""

from __future__ import annotations

import importlib
import pkgutil

from fastapi import APIRouter
from fastapi.routing import APIRoute

import src.features
from app.routers import ROUTERS


def test_each_router_serves_only_the_prefixes_listed_beside_it() -> None:
    for router, prefixes in ROUTERS:
        paths = [route.path for route in router.routes if isinstance(route, APIRoute)]
        assert paths, prefixes
        for path in paths:
            assert path.startswith(prefixes), (path, prefixes)


def test_every_feature_router_is_listed() -> None:
    listed = {id(router) for router, _ in ROUTERS}
    found = 0
    for package in pkgutil.iter_modules(src.features.__path__):
        try:
            api = importlib.import_module(f"src.features.{package.name}.api")
        except ModuleNotFoundError as exc:
            if exc.name != f"src.features.{package.name}.api":
                raise
            continue  # a feature without routes (models)
        for name, value in vars(api).items():
            if isinstance(value, APIRouter):
                found += 1
                assert id(value) in listed, f"{package.name}.api.{name} is missing from app/routers.py"
    assert found == len(ROUTERS)


def test_no_two_routers_serve_the_same_path_and_method() -> None:
    seen: set[tuple[str, str]] = set()
    for router, _ in ROUTERS:
        for route in router.routes:
            if isinstance(route, APIRoute):
                for method in route.methods:
                    assert (route.path, method) not in seen, (route.path, method)
                    seen.add((route.path, method))
