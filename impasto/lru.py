"""One small least-recently-used map, for the caches of style targets, previews, plates and fast models."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRU(Generic[K, V]):
    """Keeps the `size` most recently used items; `size` 0 keeps nothing."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self.items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K, default: V | None = None) -> V | None:
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        return default

    def put(self, key: K, value: V) -> V:
        self.items[key] = value
        self.items.move_to_end(key)
        while len(self.items) > self.size:
            self.items.popitem(last=False)
        return value

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        """The cached value, or `make()` stored under `key`."""
        value = self.get(key)
        return self.put(key, make()) if value is None else value

    def pop(self, key: K, default: V | None = None) -> V | None:
        return self.items.pop(key, default)

    def clear(self) -> None:
        self.items.clear()

    def __contains__(self, key: object) -> bool:
        return key in self.items

    def __len__(self) -> int:
        return len(self.items)
