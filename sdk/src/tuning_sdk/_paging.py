"""Pages that fetch the next page on their own when looped over."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class SyncPage(Generic[T]):
    """One page (`.data`, `.has_more`); iterating it walks every following page too."""

    def __init__(
        self,
        data: list[T],
        has_more: bool,
        fetch_after: Callable[[str], SyncPage[T]],
        cursor_of: Callable[[T], str],
    ) -> None:
        self.data = data
        self.has_more = has_more
        self._fetch_after = fetch_after
        self._cursor_of = cursor_of

    def __iter__(self) -> Iterator[T]:
        page: SyncPage[T] = self
        while True:
            yield from page.data
            if not page.has_more or not page.data:
                return
            page = page._fetch_after(self._cursor_of(page.data[-1]))

    def __len__(self) -> int:
        return len(self.data)


class AsyncPage(Generic[T]):
    """One page (`.data`, `.has_more`); `async for` over it walks every following page too."""

    def __init__(
        self,
        data: list[T],
        has_more: bool,
        fetch_after: Callable[[str], Awaitable[AsyncPage[T]]],
        cursor_of: Callable[[T], str],
    ) -> None:
        self.data = data
        self.has_more = has_more
        self._fetch_after = fetch_after
        self._cursor_of = cursor_of

    async def __aiter__(self) -> AsyncIterator[T]:
        page: AsyncPage[T] = self
        while True:
            for item in page.data:
                yield item
            if not page.has_more or not page.data:
                return
            page = await page._fetch_after(self._cursor_of(page.data[-1]))

    def __len__(self) -> int:
        return len(self.data)
