"""`task.map(items)` as a sweep: the `foreach` of the one spec task it becomes.

    train.map([{"C": 0.1}, {"C": 1.0}])             foreach: {values: [{C: 0.1}, {C: 1.0}]}
    solve.map(range(0, 1000, 10))                   foreach: {range: {start: 0, stop: 1000, step: 10}}
    solve.map(product(reynolds=[100, 400], n=[24, 48]))
                                                    foreach: {product: {reynolds: [...], n: [...]}}

Items must be what a sweep item can be (a string, number or boolean, or a flat mapping of
them), because each runs as its own process, which reads its item from $DAGTRAIL_ITEM.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dagtrail.flow import args as argcodec
from dagtrail.flow.handles import FileRef, Param, Result

_SCALARS = (str, int, float, bool)


class Product:
    """Every combination of the given lists; each item a mapping. Keys are taken in name order,
    the last varying fastest (dagtrail.sweeps.foreach: a mapping has no order once it is JSON)."""

    def __init__(self, lists: dict[str, list[Any]]) -> None:
        self.lists = lists

    def __repr__(self) -> str:
        return f"product({', '.join(f'{k}={v!r}' for k, v in self.lists.items())})"


def product(**lists: Iterable[Any]) -> Product:
    """Items for `task.map`: `product(reynolds=[100, 400], n=[24, 48])` is four mappings
    {"n": 24, "reynolds": 100}, {"n": 24, "reynolds": 400}, {"n": 48, ...}, ...; compiled as
    `foreach: product`."""
    if not lists:
        raise ValueError("product() needs at least one keyword list, like product(n=[24, 48])")
    out: dict[str, list[Any]] = {}
    for key, values in lists.items():
        if type(values).__module__ == "numpy":
            values = values.tolist()  # type: ignore[union-attr]
        if isinstance(values, (str, bytes, dict)) or not isinstance(values, Iterable):
            raise ValueError(f"product({key}=...) takes a list of values, got {type(values).__name__}")
        out[key] = list(values)
    return Product(out)


class MapError(ValueError):
    """Items that cannot be a sweep's; `where` names the offending one (`items[2].max_depth`)."""

    def __init__(self, where: str, message: str) -> None:
        self.where = where
        super().__init__(message)


def foreach_of(items: Any) -> dict[str, Any]:
    """The `foreach` mapping of a spec task for the items given to `task.map`."""
    if isinstance(items, (Result, FileRef, Param)):
        raise MapError("items", f"map() needs a list known when the workflow is built, got {items!r}")
    if isinstance(items, Product):
        return {"product": {key: [_scalar(v, f"{key}[{i}]") for i, v in enumerate(values)]
                            for key, values in items.lists.items()}}
    if isinstance(items, range):  # never materialised: a million-item range is three numbers
        return {"range": {"start": items.start, "stop": items.stop, "step": items.step}}
    if type(items).__module__ == "numpy":
        items = items.tolist()
    if isinstance(items, (str, bytes, dict)) or not isinstance(items, Iterable):
        raise MapError("items", f"map() needs a list of items, got {type(items).__name__}")
    values = [_item(v, f"items[{i}]") for i, v in enumerate(items)]
    if not values:
        raise MapError("items", "map() needs at least one item")
    return {"values": values}


def _item(value: Any, where: str) -> Any:
    value = _plain(value, where)
    if isinstance(value, dict):
        return {key: _scalar(v, f"{where}.{key}") for key, v in value.items()}
    return _scalar(value, where)


def _scalar(value: Any, where: str) -> Any:
    value = _plain(value, where)
    if isinstance(value, _SCALARS):
        return value
    shown = "None" if value is None else f"a {type(value).__name__}"
    raise MapError(where, f"{shown} cannot be a map item's value: items are strings, numbers, booleans, "
                          "or mappings of them (leave a key out for None, or pass lists as other arguments)")


def _plain(value: Any, where: str) -> Any:
    """JSON values only (numpy scalars converted, NaN refused), and no run-time handles."""
    try:
        encoded = argcodec.encode(value, where)
    except argcodec.NotSerialisable as exc:
        raise MapError(exc.where, str(exc)) from None
    if encoded.tasks or encoded.params or encoded.item:
        raise MapError(where, "map items must be known when the workflow is built; pass results and "
                              "parameters as the other arguments of map()")
    if isinstance(encoded.value, dict) and argcodec.MARK in encoded.value:
        raise MapError(where, f"a map item cannot have the key {argcodec.MARK!r}")
    return encoded.value
