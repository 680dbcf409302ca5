"""Each API call written once, for both clients.

A resource method builds an `APICall` (one answer) or a `ListCall` (a cursor-paged list) and
is decorated with `endpoint` or `paged`. Read from a sync resource it returns the result; read
from an async resource it returns an awaitable of it. Every list goes through one helper,
`_get_api_list(ListCall(path, model, params))`, whose pages fetch the next ones on their own.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from tuning_sdk._paging import AsyncPage, SyncPage
from tuning_sdk._uploads import MultipartFile

if TYPE_CHECKING:
    from tuning_sdk._base import AsyncTransport, SyncTransport

P = ParamSpec("P")
T = TypeVar("T")
ItemT = TypeVar("ItemT")


def clean(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters that were given (None means: not given)."""
    return {k: v for k, v in params.items() if v is not None}


def by_id(item: Any) -> str:
    return str(item.id)


@dataclass(frozen=True)
class APICall(Generic[T]):
    """One request and how to read its answer; `options` go to the transport (params, json...)."""

    method: str
    path: str
    cast: Callable[[Any], T]
    options: dict[str, Any] = field(default_factory=dict)

    def transport_options(self, *, asynchronous: bool) -> dict[str, Any]:
        """The options as the transport takes them: an `upload` becomes a streamed body."""
        options = dict(self.options)
        upload: MultipartFile | None = options.pop("upload", None)
        if upload is not None:
            options.update(upload.async_request_options() if asynchronous else upload.request_options())
        return options


@dataclass(frozen=True)
class ListCall(Generic[ItemT]):
    """A cursor-paged list: `model` reads one item, `cursor` gives the `after` of the next page."""

    path: str
    model: Callable[[Any], ItemT]
    params: dict[str, Any] = field(default_factory=dict)
    cursor: Callable[[ItemT], str] = by_id

    def after(self, cursor: str) -> ListCall[ItemT]:
        return replace(self, params={**self.params, "after": cursor})


class Resource:
    """What the calls written once may use: the client they belong to."""

    def __init__(self, client: Any) -> None:
        self._client = client


class SyncAPIResource(Resource):
    _t: SyncTransport

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self._t = client._transport

    def _send(self, call: APICall[T]) -> T:
        options = call.transport_options(asynchronous=False)
        return self._t.request(call.method, call.path, cast=call.cast, **options)

    def _get_api_list(self, call: ListCall[ItemT]) -> SyncPage[ItemT]:
        """A page of the call's items; looping over it fetches the following pages."""
        body: dict[str, Any] = self._t.request("GET", call.path, params=clean(call.params))
        return SyncPage(
            [call.model(item) for item in body["data"]],
            bool(body.get("has_more")),
            lambda after: self._get_api_list(call.after(after)),
            call.cursor,
        )


class AsyncAPIResource(Resource):
    _t: AsyncTransport

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self._t = client._transport

    def _send(self, call: APICall[T]) -> Awaitable[T]:
        options = call.transport_options(asynchronous=True)
        return self._t.request(call.method, call.path, cast=call.cast, **options)

    async def _get_api_list(self, call: ListCall[ItemT]) -> AsyncPage[ItemT]:
        """A page of the call's items; `async for` over it fetches the following pages."""
        body: dict[str, Any] = await self._t.request("GET", call.path, params=clean(call.params))
        return AsyncPage(
            [call.model(item) for item in body["data"]],
            bool(body.get("has_more")),
            lambda after: self._get_api_list(call.after(after)),
            call.cursor,
        )


class _Dispatch:
    """Binds a call builder to the resource it is read from; `_via` names the resource's sender."""

    _via = "_send"

    def __init__(self, build: Callable[..., Any]) -> None:
        self._build = build
        self.__doc__, self.__name__ = build.__doc__, build.__name__
        signature = inspect.signature(build)
        # what a caller passes: the builder's parameters without `self`
        self._signature = signature.replace(
            parameters=list(signature.parameters.values())[1:], return_annotation=inspect.Signature.empty
        )

    def _bind(self, resource: Any) -> Callable[..., Any]:
        build, send = self._build, getattr(resource, self._via)

        @functools.wraps(build)
        def call(*args: Any, **kwargs: Any) -> Any:
            return send(build(resource, *args, **kwargs))

        call.__signature__ = self._signature  # type: ignore[attr-defined]
        return call


class endpoint(_Dispatch, Generic[P, T]):  # lower case: a decorator, like `property`
    """A call with one answer: `T` from the sync client, `Awaitable[T]` from the async one."""

    def __init__(self, build: Callable[Concatenate[Any, P], APICall[T]]) -> None:
        super().__init__(build)

    @overload
    def __get__(self, resource: None, owner: type) -> endpoint[P, T]: ...
    @overload
    def __get__(self, resource: SyncAPIResource, owner: type) -> Callable[P, T]: ...
    @overload
    def __get__(self, resource: AsyncAPIResource, owner: type) -> Callable[P, Awaitable[T]]: ...
    def __get__(self, resource: Any, owner: type) -> Any:
        return self if resource is None else self._bind(resource)


class paged(_Dispatch, Generic[P, ItemT]):  # lower case: a decorator, like `property`
    """A cursor-paged list: `SyncPage` from the sync client, an awaitable `AsyncPage` from the async one."""

    _via = "_get_api_list"

    def __init__(self, build: Callable[Concatenate[Any, P], ListCall[ItemT]]) -> None:
        super().__init__(build)

    @overload
    def __get__(self, resource: None, owner: type) -> paged[P, ItemT]: ...
    @overload
    def __get__(self, resource: SyncAPIResource, owner: type) -> Callable[P, SyncPage[ItemT]]: ...
    @overload
    def __get__(
        self, resource: AsyncAPIResource, owner: type
    ) -> Callable[P, Awaitable[AsyncPage[ItemT]]]: ...
    def __get__(self, resource: Any, owner: type) -> Any:
        return self if resource is None else self._bind(resource)
