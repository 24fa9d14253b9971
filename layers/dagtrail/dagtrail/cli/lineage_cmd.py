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
    show.add_argument("--format", choices=("json", "text"), default="text")
    show.set_defaults(func=show_cmd)


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


def show_cmd(args: argparse.Namespace) -> int:
    from dagtrail.lineage import graph, queries

    url = graph_url(args)
    g = graph.open_graph(url)
    try:
        run_id = queries.latest_run_id(g) if args.run_id == "latest" else args.run_id
        shown = queries.show_run(g, run_id)
    except OSError as exc:  # a graph server that is down or unreachable (aiohttp errors)
        raise graph.GraphUnavailable(f"cannot reach the lineage graph at {url}: {exc}") from exc
    finally:
        graph.close(g)
    if args.format == "json":
        print(json.dumps(shown, indent=2, sort_keys=True))
    else:
        print(queries.render_text(shown), end="")
    return 0
