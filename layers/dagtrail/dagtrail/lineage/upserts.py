"""One write request: the upserts of a chunk of LineageRecords as one chained traversal.

Only steps gremlite also runs (Neptune runs them natively). Within a request:

- Records of the same vertex are merged into one upsert: per property, the value and rank
  of the highest-ranked record that sets it (of those, the last), which is what applying
  them one by one leaves behind.
- Vertices come before edges, each looked up once: `V().has('uid', x).hasLabel(label)`,
  uid first, because gremlite turns `has(label, 'uid', x)` into an SQL subquery over every
  vertex of that label (a cost growing with the graph), while uid first is one index probe
  and the label is then checked on that one row.
- A vertex that exists gets a side effect per property guarded by that property's stored
  rank (`_r_<name>`; none stored means rank 0, so a rank-0 record stores none): it is only
  overwritten by a record of equal or higher rank. The guard uses `P.within(0..rank)`,
  which gremlite evaluates (its numeric range predicates do not). A vertex that does not
  exist is created with its properties and their ranks unguarded: nothing stored can
  outrank them (on gremlite with list cardinality: see Request.traversal).
- Edges reuse the vertices upserted before them through step labels; an endpoint with no
  record in the request is upserted once as a placeholder (label and uid only; its own
  record fills it in later). An edge is added unless `select(out).outE(label)` already
  holds one into the in-vertex.

Every upsert keeps exactly one traverser alive, so the final `count()` is 1; anything else
means a mutation was silently skipped and the writer reports the request as failed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dagtrail.lineage.records import LineageRecord, PropValue

RANK_PREFIX = "_r_"

# Main-chain steps (gremlite's recursion depth follows them; child traversals add little).
_OPEN_STEPS = 5  # V, has, hasLabel, limit, fold before the first upsert's coalesce
_CLOSE_STEPS = 1  # count

VertexKey = tuple[str, str]  # label, uid
EdgeKey = tuple[str, VertexKey, VertexKey]  # label, out, in


class Request:
    """The upserts of one request, built up record by record, with the length of the
    traversal they make (`steps`) known before it is built."""

    def __init__(self) -> None:
        self.records = 0
        self.vertices: dict[VertexKey, dict[str, tuple[PropValue, int]]] = {}
        self.edges: dict[EdgeKey, None] = {}  # insertion-ordered set
        self.endpoints: dict[VertexKey, None] = {}
        self.steps = 0

    def cost(self, r: LineageRecord) -> int:
        """Steps `r` would add to the traversal."""
        steps = 0 if self.records else _OPEN_STEPS + _CLOSE_STEPS
        if r.op == "vertex":
            # A vertex already in the request merges; one an edge already refers to turns
            # a placeholder (coalesce, as) into a full upsert of the same length.
            key = (r.label, r.uid)
            return steps + (0 if key in self.vertices or key in self.endpoints else 1)
        out, in_ = (r.out_label, r.out_uid), (r.in_label, r.in_uid)
        if (r.label, out, in_) in self.edges:
            return steps
        steps += 1  # the edge's coalesce
        for end in dict.fromkeys((out, in_)):
            if end not in self.endpoints:
                steps += 1 if end in self.vertices else 2  # as; or coalesce, as
        return steps

    def add(self, r: LineageRecord) -> None:
        self.steps += self.cost(r)
        self.records += 1
        if r.op == "vertex":
            props = self.vertices.setdefault((r.label, r.uid), {})
            for name, value in r.props.items():
                # As applying the records one by one would: a higher rank wins, a tie goes
                # to the later record (plan order has ranks ascending anyway).
                if name not in props or r.rank >= props[name][1]:
                    props[name] = (value, r.rank)
            return
        out, in_ = (r.out_label, r.out_uid), (r.in_label, r.in_uid)
        self.edges[(r.label, out, in_)] = None
        self.endpoints.update(dict.fromkeys((out, in_)))

    def traversal(self, g: Any, *, append: bool = False) -> Any:
        """The traversal (not yet submitted) that applies the request. `append`: give new
        vertices their properties with list cardinality, which adds a property without
        first reading the vertex's (gremlite reads them for single and set, a third of its
        cost of a new vertex; Neptune has no list cardinality). On a vertex just created,
        where each name is set once, list and single leave the same vertex."""
        from gremlin_python.process.graph_traversal import __

        t, tags = None, {}
        placeholders = [end for end in self.endpoints if end not in self.vertices]
        for key, props in [*self.vertices.items(), *((end, {}) for end in placeholders)]:
            t = _upsert_vertex(g, t, key, props, append)
            if key in self.endpoints:
                tags[key] = f"v{len(tags)}"
                t = t.as_(tags[key])
        for label, out, in_ in self.edges:
            # where(inV().as(tag)) would compare without a lookup, but gremlite never
            # matches a tag bound after fold()/unfold(), as the request's first vertex is.
            existing = __.select(tags[out]).out_e(label).where(__.in_v().has("uid", in_[1]).has_label(in_[0])).limit(1)
            t = t.coalesce(existing, __.add_e(label).from_(tags[out]).to(tags[in_]))
        return t.count()


def request(records: Iterable[LineageRecord]) -> Request:
    req = Request()
    for r in records:
        req.add(r)
    return req


def _upsert_vertex(g: Any, t: Any, key: VertexKey, props: dict[str, tuple[PropValue, int]], append: bool) -> Any:
    from gremlin_python.process.graph_traversal import __
    from gremlin_python.process.traversal import Cardinality

    label, uid = key
    card = (Cardinality.list_,) if append else ()  # none: Neptune's default, set
    create = __.add_v(label).property(*card, "uid", uid)
    for name, (value, rank) in sorted(props.items()):
        create = _set(create, card, name, value, rank)
    if t is None:
        # fold() ends path history, so it may only open the chain, before any step label.
        found = g.V().has("uid", uid).has_label(label).limit(1).fold()
        return found.coalesce(_guarded(__.unfold(), props), create)
    return t.coalesce(_guarded(__.V().has("uid", uid).has_label(label).limit(1), props), create)


def _guarded(t: Any, props: dict[str, tuple[PropValue, int]]) -> Any:
    from gremlin_python.process.graph_traversal import __
    from gremlin_python.process.traversal import Cardinality, P

    guarded = None
    for name, (value, rank) in sorted(props.items()):
        rank_key = RANK_PREFIX + name
        # Stored at a rank this record may overwrite (the usual case, one lookup), or not
        # stored yet (a placeholder's, a new property's).
        allowed = __.or_(__.has(rank_key, P.within(list(range(rank + 1)))), __.not_(__.has(rank_key)))
        step = _set(allowed, (Cardinality.single,), name, value, rank)
        guarded = __.side_effect(step) if guarded is None else guarded.side_effect(step)
    # One side effect around them all: gremlite builds a branch's steps before running it,
    # and a new vertex never runs these.
    return t if guarded is None else t.side_effect(guarded)


def _set(t: Any, card: tuple, name: str, value: PropValue, rank: int) -> Any:
    """The property and its rank; rank 0 is stored as no rank."""
    t = t.property(*card, name, value)
    return t.property(*card, RANK_PREFIX + name, rank) if rank else t
