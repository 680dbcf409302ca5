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
        feature = importlib.import_module(f"src.features.{package.name}")
        # a feature's routes live in `api.py`, and in `<part>_api.py` where it has several surfaces
        for module in pkgutil.iter_modules(feature.__path__):
            if module.name != "api" and not module.name.endswith("_api"):
                continue
            api = importlib.import_module(f"src.features.{package.name}.{module.name}")
            for name, value in vars(api).items():
                if isinstance(value, APIRouter) and value.routes and api.__name__ == _defined_in(value):
                    found += 1
                    assert id(value) in listed, f"{api.__name__}.{name} is missing from app/routers.py"
    assert found == len(ROUTERS)


def test_no_two_routers_serve_the_same_path_and_method() -> None:
    seen: set[tuple[str, str]] = set()
    for router, _ in ROUTERS:
        for route in router.routes:
            if isinstance(route, APIRoute):
                for method in route.methods:
                    assert (route.path, method) not in seen, (route.path, method)
                    seen.add((route.path, method))


def _defined_in(router: APIRouter) -> str:
    """The module a router's routes were written in (a router imported elsewhere is counted once)."""
    return router.routes[0].endpoint.__module__
