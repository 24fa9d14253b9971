"""Open the lineage graph: gremlite (SQLite) locally, Neptune on AWS, one gremlinpython API.

URLs:
- `gremlite:///abs/path/lineage.db` — embedded, in-process.
- `neptune://host:8182` — Neptune with IAM database authentication: TLS (wss) to
  host:8182/gremlin, the handshake SigV4-signed afresh on every (re)connect (neptune_auth).
- `wss://host:8182/gremlin` — any Gremlin server over TLS, unsigned (Neptune without IAM
  auth); `ws://host:port/gremlin` — unencrypted, for a local Gremlin Server only.

gremlinpython is imported here only, and only when a graph is opened.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from dagtrail.errors import DagtrailError


class GraphUrlError(DagtrailError):
    """A graph URL dagtrail cannot open."""


class GraphUnavailable(DagtrailError):
    """The graph server did not accept a connection."""


# gremlite evaluates a traversal by recursing through its steps, about one Python frame per
# step plus those of child traversals, so a chain of ~900 steps exceeds the recursion limit.
# 120 leaves ample headroom for callers' stacks and costs nothing: in-process, a longer
# request saves no round trip.
GREMLITE_MAX_STEPS = 120


def parse(url: str) -> tuple[str, str]:
    """Return ("gremlite", db path), ("neptune", wss:// URL) or ("websocket", ws(s):// URL)."""
    parsed = urlparse(url)
    if parsed.scheme == "gremlite":
        path = (parsed.netloc + parsed.path) if parsed.netloc else parsed.path
        if not path:
            raise GraphUrlError(f"graph URL {url!r} names no database file")
        return "gremlite", path
    if parsed.scheme in ("neptune", "wss", "ws"):
        if not parsed.hostname:
            raise GraphUrlError(f"graph URL {url!r} names no host")
        scheme = "ws" if parsed.scheme == "ws" else "wss"
        port = parsed.port or 8182
        path = parsed.path if parsed.path not in ("", "/") else "/gremlin"
        kind = "neptune" if parsed.scheme == "neptune" else "websocket"
        return kind, f"{scheme}://{parsed.hostname}:{port}{path}"
    raise GraphUrlError(
        f"graph URL {url!r}: expected gremlite:///path/lineage.db, neptune://host:port or wss://host:port/gremlin"
    )


def open_graph(url: str) -> Any:
    """A GraphTraversalSource for `url` (see the module docstring for the forms)."""
    kind, target = parse(url)
    from gremlin_python.process.anonymous_traversal import traversal

    if kind == "gremlite":
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        return traversal().with_remote(_committing_sqlite(target))
    return traversal().with_remote(connect(kind, target))


def connect(kind: str, target: str) -> Any:
    """A DriverRemoteConnection to a websocket URL; for Neptune with a freshly signed
    handshake. Connection errors surface on the first request (OSError, aiohttp's errors),
    which the writer retries on a new connection and the CLI reports in one line."""
    from gremlin_python.driver.driver_remote_connection import DriverRemoteConnection

    headers = None
    if kind == "neptune":
        from dagtrail.lineage import neptune_auth

        headers = neptune_auth.signed_headers(neptune_auth.signing_url(target))
    return DriverRemoteConnection(target, "g", headers=headers)


def remote(g: Any) -> Any:
    """The connection behind a traversal source (with_remote() records it only in the
    source's RemoteStrategy, not on the source it returns)."""
    for strategy in g.traversal_strategies.traversal_strategies:
        connection = getattr(strategy, "remote_connection", None)
        if connection is not None:
            return connection
    return None


def is_gremlite(g: Any) -> bool:
    return type(remote(g)).__module__.startswith(("gremlite", __name__))


def max_steps(g: Any) -> int | None:
    """Longest traversal (in steps) the engine behind `g` evaluates; None: no limit."""
    return GREMLITE_MAX_STEPS if is_gremlite(g) else None


def close(g: Any) -> None:
    conn = remote(g)
    if conn is not None:
        conn.close()


_local = threading.local()


def cached(url: str) -> Any:
    """One connection per URL per thread (a Lambda environment keeps its connection warm;
    SQLite connections must stay on the thread that opened them)."""
    graphs = getattr(_local, "graphs", None)
    if graphs is None:
        graphs = _local.graphs = {}
    if url not in graphs:
        graphs[url] = open_graph(url)
    return graphs[url]


def reconnect(url: str) -> Any:
    """Drop this thread's connection to `url` and open a new one (for Neptune: a new
    websocket with a freshly signed handshake). Raises if the graph is still unreachable;
    the next call tries again."""
    graphs = getattr(_local, "graphs", None)
    if graphs is None:
        graphs = _local.graphs = {}
    old = graphs.pop(url, None)
    if old is not None:
        try:
            close(old)
        except Exception:  # noqa: BLE001 - a broken connection may fail to close; it is dropped anyway
            pass
    graphs[url] = open_graph(url)
    return graphs[url]


def forget_cached() -> None:
    """Close this thread's cached connections (tests switch databases)."""
    for g in getattr(_local, "graphs", {}).values():
        close(g)
    _local.graphs = {}


def _committing_sqlite(path: str) -> Any:
    from gremlin_python.driver.remote_connection import RemoteTraversal
    from gremlite import SQLiteConnection

    class CommittingSQLiteConnection(SQLiteConnection):
        """Each submitted traversal is one transaction, as each request is on Neptune:
        evaluated completely, then committed (or rolled back if it raised)."""

        def submit(self, bytecode):  # noqa: ANN001 - gremlinpython's signature
            producer = super().submit(bytecode).traversers
            results = []
            try:
                # Not list(producer): its __iter__ yields gremlite's internal results, while
                # next() yields the traversers gremlinpython expects.
                while True:
                    results.append(next(producer))
            except StopIteration:
                pass
            except BaseException:
                self.rollback()
                raise
            self.commit()
            return RemoteTraversal(iter(results))

    conn = CommittingSQLiteConnection(path, timeout=30.0)
    # A commit per request, as on Neptune: WAL keeps that cheap and lets `dagtrail lineage`
    # read while a run writes.
    conn.con.execute("PRAGMA journal_mode=WAL")
    conn.con.execute("PRAGMA synchronous=NORMAL")
    return conn
