"""The `foreach` of a sweep task: its four forms, how many items, and the item at an index.

    foreach: {values: [0, 5, 10]}
    foreach: {range: {start: 0, stop: 1000000, step: 1}}
    foreach: {product: {angle: [0, 5], mach: [0.3, 0.5]}}     # items are mappings, keys by name
    foreach: {from: upstream_task/items.json}                   # a JSON list a dependency wrote

Static forms (values, range, product) know their size at compile time; `from` learns it at
run time. Items are addressed by index, so a child finds its own item without anyone
handing it the list: item_at() is O(1) for every static form.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Far above what one workflow should run: 1,000 Distributed Map chunks of 10,000 items.
MAX_ITEMS = 10_000_000
ItemScalar = str | int | float | bool
Item = ItemScalar | dict[str, ItemScalar]
_FROM = re.compile(r"^([a-z0-9][a-z0-9_-]{0,62})/([^/\0][^\0]*)$")


class _Strict(BaseModel):
    # defer_build: the spec models import Foreach as a field type (TaskSpec's schema holds its
    # own copy); a sweep's own checks build these on first use, submit_task's plain tasks never.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)


class RangeSpec(_Strict):
    start: int = 0
    stop: int
    step: int = 1

    @field_validator("step")
    @classmethod
    def _step(cls, v: int) -> int:
        if v == 0:
            raise ValueError("must not be 0")
        return v

    def count(self) -> int:
        return len(range(self.start, self.stop, self.step))  # O(1), exact for any sign of step


class Foreach(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, validate_by_name=True,
                              validate_by_alias=True, serialize_by_alias=True, defer_build=True)

    values: list[Item] | None = Field(default=None, min_length=1)
    range: RangeSpec | None = None
    product: dict[str, list[ItemScalar]] | None = Field(default=None, min_length=1)
    from_: str | None = Field(default=None, alias="from")

    @field_validator("product")
    @classmethod
    def _product(cls, v: dict[str, list[ItemScalar]] | None) -> dict[str, list[ItemScalar]] | None:
        for key, values in (v or {}).items():
            if not re.match(r"^[A-Za-z_]\w*$", key):
                raise ValueError(f"{key!r} is not a key name ([A-Za-z_][A-Za-z0-9_]*): `{{{{ item.{key} }}}}` "
                                 "could not name it")
            if not values:
                raise ValueError(f"{key!r} has no values")
        return v

    @field_validator("from_")
    @classmethod
    def _from(cls, v: str | None) -> str | None:
        if v is not None:
            match = _FROM.match(v)
            if not match or any(p in ("", ".", "..") for p in match.group(2).split("/")):
                raise ValueError(f"{v!r} is not <upstream task>/<path of a JSON list in its outputs>")
        return v

    @model_validator(mode="after")
    def _one_form(self) -> Foreach:
        given = [name for name in ("values", "range", "product", "from_") if getattr(self, name) is not None]
        if len(given) != 1:
            shown = ", ".join(n.rstrip("_") for n in given) or "none"
            raise ValueError(f"give exactly one of values, range, product, from (got {shown})")
        count = self.count()
        if count is not None and count < 1:
            raise ValueError("the sweep has no items")
        if count is not None and count > MAX_ITEMS:
            raise ValueError(f"the sweep has {count} items; at most {MAX_ITEMS} are allowed")
        return self

    @property
    def kind(self) -> str:
        return next(n.rstrip("_") for n in ("values", "range", "product", "from_") if getattr(self, n) is not None)

    @property
    def source_task(self) -> str | None:
        return self.from_.split("/", 1)[0] if self.from_ else None

    @property
    def source_path(self) -> str | None:
        return self.from_.split("/", 1)[1] if self.from_ else None

    def count(self) -> int | None:
        """Number of items, or None when only the run knows (`from`)."""
        if self.values is not None:
            return len(self.values)
        if self.range is not None:
            return self.range.count()
        if self.product is not None:
            n = 1
            for values in self.product.values():
                n *= len(values)
            return n
        return None

    def keys(self) -> frozenset[str] | None:
        """Keys every item has (what `{{ item.key }}` may name); None if any key may exist."""
        if self.product is not None:
            return frozenset(self.product)
        if self.values is not None:
            if not all(isinstance(v, dict) for v in self.values):
                return frozenset()
            return frozenset.intersection(*(frozenset(v) for v in self.values))  # type: ignore[arg-type]
        if self.range is not None:
            return frozenset()
        return None

    def item_at(self, index: int) -> Any:
        """The item at `index` of a static form. product: keys in name order, the last varying
        fastest — a mapping has no order once it is JSON (the task definition is sorted JSON), so
        the spec, submit_task and the task wrapper must not depend on the order it was written in."""
        count = self.count()
        if count is None:
            raise ValueError("a `from` sweep's items are only known at run time")
        if not 0 <= index < count:
            raise IndexError(f"item {index} of a sweep of {count}")
        if self.values is not None:
            return self.values[index]
        if self.range is not None:
            return self.range.start + index * self.range.step
        assert self.product is not None
        keys = sorted(self.product)
        item: dict[str, Any] = {}
        for key in reversed(keys):
            values = self.product[key]
            index, at = divmod(index, len(values))
            item[key] = values[at]
        return {key: item[key] for key in keys}

    def items(self) -> Iterator[Any]:
        for i in range(self.count() or 0):
            yield self.item_at(i)
