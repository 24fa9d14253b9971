"""`dagtrail lineage ...`: query the lineage graph.

Locally the graph is `<workdir>/lineage.db` (gremlite); `--graph URL` reads any other graph
(`gremlite:///path.db`, `neptune://host:8182`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dagtrail.errors import NotFoundError

DEFAULT_WORKDIR = ".dagtrail"


def register(subparsers: argparse._SubParsersAction) -> None:
    lineage = subparsers.add_parser("lineage", help="query the lineage graph")
    commands = lineage.add_subparsers(dest="lineage_command", required=True)

    show = commands.add_parser("show", help="a run's vertices and edges")
    show.add_argument("run_id", metavar="RUN_ID", help="a run id, or 'latest'")
    _graph_options(show)
    show.add_argument("--format", choices=("json", "text", "mermaid", "dot", "prov", "html"), default="text",
                      help="text (default), json, mermaid, dot (Graphviz), prov (PROV-JSON), html (one self-contained page)")
    show.add_argument("--log-group", default=None, metavar="NAME",
                      help="CloudWatch log group of task logs, for html links (default /aws/batch/job)")
    show.set_defaults(func=show_cmd)

    for direction, what in (("upstream", "everything that went into an artifact, transitively"),
                            ("downstream", "everything made from an artifact, transitively")):
        trace = commands.add_parser(direction, help=what)
        trace.add_argument("target", metavar="URI_OR_PATH",
                           help="an s3:// URI, or a local file under <workdir>/results/")
        _graph_options(trace)
        trace.add_argument("--format", choices=("json", "text"), default="text")
        trace.set_defaults(func=trace_cmd, direction=direction)

    history = commands.add_parser("history", help="runs of a task over time, with status and duration")
    history.add_argument("task", metavar="TASK")
    history.add_argument("--workflow", metavar="W", help="only this workflow's task of that name")
    _graph_options(history)
    history.add_argument("--format", choices=("json", "text"), default="text")
    history.set_defaults(func=history_cmd)

    replay = commands.add_parser(
        "replay", help="write lineage records that never reached the graph (the DLQ) into it")
    replay.add_argument("--queue-url", metavar="DLQ",
                        help="the lineage DLQ on AWS; default: the local runs' saved records in <workdir>")
    _graph_options(replay)
    replay.add_argument("--format", choices=("json", "text"), default="text")
    replay.set_defaults(func=replay_cmd)


def _graph_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workdir", default=DEFAULT_WORKDIR, help="local state directory (default .dagtrail)")
    parser.add_argument("--graph", metavar="URL", help="graph URL, overriding <workdir>/lineage.db")


def graph_url(args: argparse.Namespace) -> str:
    """The graph a command reads: --graph, else the workdir's local database (which must exist:
    opening a missing one would create an empty file and hide a wrong --workdir)."""
    if args.graph:
        return args.graph
    db = Path(args.workdir).resolve() / "lineage.db"
    if not db.is_file():
        raise NotFoundError(f"no lineage graph at {db} (run `dagtrail run` first, or pass --workdir/--graph)")
    return f"gremlite://{db}"


def _open(url: str):  # noqa: ANN202 - a gremlinpython traversal source
    """Open the graph; an unreachable one is a one-line error, not a traceback."""
    from dagtrail.lineage import graph, retry

    try:
        return graph.open_graph(url)
    except Exception as exc:
        if retry.transient(exc) is None:
            raise
        raise graph.GraphUnavailable(f"cannot reach the lineage graph at {url}: {exc}") from exc


def _query(args: argparse.Namespace, fn):  # noqa: ANN001, ANN202 - fn(g) -> result
    """Run fn against the command's graph; an unreachable graph server is a one-line error."""
    from dagtrail.lineage import graph

    url = graph_url(args)
    g = _open(url)
    try:
        return fn(g)
    except OSError as exc:  # a graph server that is down or unreachable (aiohttp errors)
        raise graph.GraphUnavailable(f"cannot reach the lineage graph at {url}: {exc}") from exc
    finally:
        graph.close(g)


def _print(args: argparse.Namespace, result: dict, render) -> None:  # noqa: ANN001
    if args.format == "json":
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(render(result), end="")


def trace_cmd(args: argparse.Namespace) -> int:
    from dagtrail.lineage import trace

    uri = trace.to_uri(args.target, Path(args.workdir))
    _print(args, _query(args, lambda g: trace.trace(g, uri, args.direction)), trace.render_text)
    return 0


def history_cmd(args: argparse.Namespace) -> int:
    from dagtrail.lineage import history

    _print(args, _query(args, lambda g: history.history(g, args.task, args.workflow)), history.render_text)
    return 0


def show_cmd(args: argparse.Namespace) -> int:
    from dagtrail.lineage import graph, queries

    url = graph_url(args)
    g = _open(url)
    try:
        run_id = queries.latest_run_id(g) if args.run_id == "latest" else args.run_id
        shown = queries.show_run(g, run_id)
    except OSError as exc:  # a graph server that is down or unreachable (aiohttp errors)
        raise graph.GraphUnavailable(f"cannot reach the lineage graph at {url}: {exc}") from exc
    finally:
        graph.close(g)
    if args.format in ("json", "text"):
        _print(args, shown, queries.render_text)
    else:
        print(_export(args, shown), end="")
    return 0


def _export(args: argparse.Namespace, shown: dict) -> str:
    from dagtrail.lineage import export

    if args.format == "mermaid":
        return export.mermaid(shown)
    if args.format == "dot":
        return export.dot(shown)
    if args.format == "prov":
        return export.prov_json(shown)
    from dagtrail.lineage import html

    # A local graph's objects are mirrored under <workdir>/results: link the files.
    results = None if args.graph else Path(args.workdir).resolve() / "results"
    return html.render(shown, results_dir=results, log_group=args.log_group or html.DEFAULT_LOG_GROUP)


def replay_cmd(args: argparse.Namespace) -> int:
    """Exit 0 when everything landed, 1 when some messages failed again (listed with why)."""
    from dagtrail import settings
    from dagtrail.lineage import graph, replay

    if args.queue_url:
        url = args.graph or settings.load().graph_url
        if not url:
            raise NotFoundError("no graph to replay into: pass --graph URL or set DAGTRAIL_GRAPH_URL")
    else:
        source = replay.dlq_file(Path(args.workdir).resolve())
        if not source.is_file():
            print(f"nothing to replay: no saved lineage records at {source}")
            return 0
        # The graph may never have been written when it was down for a whole run.
        url = args.graph or f"gremlite://{Path(args.workdir).resolve() / 'lineage.db'}"
    graph.parse(url)  # a bad URL is bad input, before anything is read
    g = None
    try:
        g = _open(url)
        reconnect = lambda: graph.reconnect(url)  # noqa: E731
        if args.queue_url:
            report = replay.replay_queue(args.queue_url, g, reconnect=reconnect)
        else:
            report = replay.replay_file(source, g, reconnect=reconnect)
    finally:
        if g is not None:
            graph.close(g)
        graph.forget_cached()
    if args.format == "json":
        print(json.dumps(report.model_dump(), indent=2, sort_keys=True))
    else:
        print(replay.render_text(report), end="")
    return 1 if report.failed or report.untried else 0
