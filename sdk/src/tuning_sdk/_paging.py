"""Pages that fetch the next page on their own when looped over."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
NextT = TypeVar("NextT")


class _Page(Generic[T, NextT]):
    """One page: `.data`, `.has_more`, and how to fetch the page after it."""

    def __init__(
        self,
        data: list[T],
        has_more: bool,
        fetch_after: Callable[[str], NextT],
        cursor_of: Callable[[T], str],
    ) -> None:
        self.data = data
        self.has_more = has_more
        self._fetch_after = fetch_after
        self._cursor_of = cursor_of

    def _next(self) -> NextT | None:
        """The following page (or its awaitable), or None when this is the last."""
        if not self.has_more or not self.data:
            return None
        return self._fetch_after(self._cursor_of(self.data[-1]))

    def __len__(self) -> int:
        return len(self.data)


class SyncPage(_Page[T, "SyncPage[T]"]):
    """One page (`.data`, `.has_more`); iterating it walks every following page too."""

    def __iter__(self) -> Iterator[T]:
        page: SyncPage[T] | None = self
        while page is not None:
            yield from page.data
            page = page._next()


class AsyncPage(_Page[T, Awaitable["AsyncPage[T]"]]):
    """One page (`.data`, `.has_more`); `async for` over it walks every following page too."""

    async def __aiter__(self) -> AsyncIterator[T]:
        page: AsyncPage[T] | None = self
        while page is not None:
            for item in page.data:
                yield item
            following = page._next()
            page = None if following is None else await following
