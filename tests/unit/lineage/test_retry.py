"""Writer robustness: which errors are retried, jittered backoff, reconnects, and how the
lineage_writer's batch reports a graph that is down."""

import json
import random
import sqlite3

import pytest
from gremlin_python.driver.protocol import GremlinServerError
from gremlin_python.process.anonymous_traversal import traversal

from dagtrail.lineage import graph, retry, writer
from dagtrail.lineage import records as R


def neptune_error(code, http=500):
    message = json.dumps({"requestId": "r-1", "code": code, "detailedMessage": "..."})
    return GremlinServerError({"code": http, "message": message, "attributes": {}})


@pytest.mark.parametrize(
    "exc, kind",
    [
        (neptune_error("ConcurrentModificationException"), "conflict"),
        (neptune_error("ConstraintViolationException", 400), "conflict"),
        (neptune_error("ThrottlingException", 429), "conflict"),
        (neptune_error("ReadOnlyViolationException", 400), "connection"),
        (neptune_error("AccessDeniedException", 403), "connection"),
        (neptune_error("MalformedQueryException", 400), None),
        (Exception("Failed to connect to server: HTTP Error code 403 - Forbidden."), "connection"),
        (ConnectionRefusedError(111, "refused"), "connection"),
        (TimeoutError(), "connection"),
        (RuntimeError("Connection was closed by server."), "connection"),
        (sqlite3.OperationalError("database is locked"), "connection"),
        (graph.GraphUnavailable("down"), "connection"),
        (writer.LineageWriteError("returned [], expected [1]"), None),
        (ValueError("bad"), None),
    ],
)
def test_transient_errors_are_classified(exc, kind):
    assert retry.transient(exc) == kind


def test_aiohttp_connection_errors_are_transient():
    import aiohttp

    assert retry.transient(aiohttp.ServerDisconnectedError()) == "connection"
    assert retry.transient(aiohttp.WSServerHandshakeError(None, (), status=503)) == "connection"


def test_backoff_is_capped_exponential_with_full_jitter():
    b = retry.Backoff(attempts=8, base=0.1, cap=1.0)
    ceilings = [min(1.0, 0.1 * 2**i) for i in range(7)]
    rng = random.Random(7)
    delays = [[b.delay(i, rng) for _ in range(200)] for i in range(7)]
    for ceiling, ds in zip(ceilings, delays):
        assert all(0 <= d <= ceiling for d in ds)
        assert max(ds) > 0.8 * ceiling and min(ds) < 0.2 * ceiling  # spread over [0, ceiling]
    assert len({round(d, 9) for d in delays[3]}) > 150  # jittered, not a fixed schedule


class FlakyConnection:
    """A remote connection that raises the given errors on its first requests, then
    forwards to a real graph; it records how many requests reached it."""

    def __init__(self, inner, errors=()):
        self.inner, self.errors, self.requests, self.closed = inner, list(errors), 0, False

    def submit(self, bytecode):
        self.requests += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.inner.submit(bytecode)

    def close(self):
        self.closed = True


def flaky(lineage_graph, errors=()):
    conn = FlakyConnection(graph.remote(lineage_graph), errors)
    return traversal().with_remote(conn), conn


def records():
    return R.task_run("run-1", "wf", "fit", 1, status="SUCCEEDED", exit_code=0)


def status(g):
    return g.V().has("TaskRun", "uid", "taskrun:run-1:fit:1").values("status").to_list()


FAST = retry.Backoff(attempts=4, base=0.01, cap=0.04)


def test_concurrent_modification_is_retried_on_the_same_connection(lineage_graph):
    g, conn = flaky(lineage_graph, [neptune_error("ConcurrentModificationException")] * 2)
    sleeps = []
    stats = writer.write(g, records(), backoff=FAST, sleep=sleeps.append,
                         reconnect=lambda: pytest.fail("a conflict needs no new connection"))
    assert (stats.retries, stats.reconnects, stats.requests) == (2, 0, 1)
    assert conn.requests == 3
    assert len(sleeps) == 2 and 0 <= sleeps[0] <= 0.01 and 0 <= sleeps[1] <= 0.02
    assert status(lineage_graph) == ["SUCCEEDED"]


def test_a_dropped_connection_is_replaced(lineage_graph):
    g, broken = flaky(lineage_graph, [ConnectionResetError(104, "reset")])
    fresh_g, fresh = flaky(lineage_graph)
    opened = []

    def reconnect():
        opened.append(1)
        if len(opened) == 1:  # the graph is still coming back
            raise ConnectionRefusedError(111, "refused")
        return fresh_g

    stats = writer.write(g, records(), backoff=FAST, sleep=lambda s: None, reconnect=reconnect)
    assert broken.requests == 1 and fresh.requests == 1
    assert (stats.retries, stats.reconnects) == (2, 1)
    assert status(lineage_graph) == ["SUCCEEDED"]


def test_a_failed_write_is_retried_and_then_lands(lineage_graph):
    # Many requests: the third fails twice; the ones already applied are not sent again
    # and the graph ends up complete.
    g, conn = flaky(lineage_graph)
    real_submit = conn.submit
    calls = []

    def submit(bytecode):
        calls.append(1)
        if len(calls) in (3, 4):
            raise neptune_error("ConcurrentModificationException")
        return real_submit(bytecode)

    conn.submit = submit
    recs = []
    for i in range(10):
        recs += R.task_run("run-1", "wf", f"t{i}", 1, status="SUCCEEDED", exit_code=0)  # 40 records
    stats = writer.write(g, recs, max_mutations=10, max_steps=10_000, backoff=FAST, sleep=lambda s: None)
    assert (stats.requests, stats.retries, stats.mutations) == (4, 2, 40)
    assert len(calls) == 6
    assert lineage_graph.V().has_label("TaskRun").count().next() == 10


def test_errors_that_are_not_transient_fail_at_once(lineage_graph):
    g, conn = flaky(lineage_graph, [neptune_error("MalformedQueryException", 400)])
    with pytest.raises(GremlinServerError, match="MalformedQueryException"):
        writer.write(g, records(), backoff=FAST, sleep=lambda s: pytest.fail("no retry"))
    assert conn.requests == 1


def test_retries_give_up_after_the_last_attempt(lineage_graph):
    g, conn = flaky(lineage_graph, [neptune_error("ConcurrentModificationException")] * 10)
    with pytest.raises(GremlinServerError, match="ConcurrentModification"):
        writer.write(g, records(), backoff=FAST, sleep=lambda s: None)
    assert conn.requests == FAST.attempts


def messages(recs):
    return [(f"m{i}", r.model_dump_json()) for i, r in enumerate(recs)]


def test_a_graph_that_stays_down_fails_the_whole_batch_without_per_message_writes(lineage_graph):
    g, conn = flaky(lineage_graph, [ConnectionRefusedError(111, "refused")] * 100)
    reconnects = []

    def reconnect():
        reconnects.append(1)
        raise ConnectionRefusedError(111, "refused")

    msgs = messages(records()) + [("poison", "{not json")]
    failed = writer.apply_messages(msgs, g=g, reconnect=reconnect, backoff=FAST, sleep=lambda s: None)
    assert set(failed) == {m for m, _ in msgs}
    assert failed["m0"].startswith("graph unavailable: ConnectionRefusedError")
    assert failed["poison"].startswith("JSONDecodeError")
    # One batched write's attempts, not one series per message.
    assert conn.requests + len(reconnects) == FAST.attempts


def test_a_conflict_that_outlives_the_retries_is_isolated_message_by_message(lineage_graph):
    g, conn = flaky(lineage_graph, [neptune_error("ConcurrentModificationException")] * FAST.attempts)
    msgs = messages(records())
    assert writer.apply_messages(msgs, g=g, backoff=FAST, sleep=lambda s: None) == {}
    assert status(lineage_graph) == ["SUCCEEDED"]


def test_lambda_batch_against_an_unreachable_graph_fails_every_message_and_reconnects(monkeypatch):
    # Nothing listens on port 1: every connection is refused, as when Neptune is down.
    url = "ws://127.0.0.1:1/gremlin"
    monkeypatch.setenv("DAGTRAIL_GRAPH_URL", url)
    monkeypatch.setattr(retry, "DEFAULT", retry.Backoff(attempts=2, base=0.0, cap=0.0))
    opened = []
    real_open = graph.open_graph
    monkeypatch.setattr(graph, "open_graph", lambda u: opened.append(u) or real_open(u))
    graph.forget_cached()
    event = {"Records": [{"messageId": mid, "body": body} for mid, body in messages(records())]}
    try:
        response = writer.handle_sqs_batch(event)
    finally:
        graph.forget_cached()
    assert response == {"batchItemFailures": [{"itemIdentifier": f"m{i}"} for i in range(len(records()))]}
    assert len(opened) == 2  # the cached connection, then one fresh one after it failed
