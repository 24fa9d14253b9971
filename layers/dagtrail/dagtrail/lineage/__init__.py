"""The lineage graph: records handlers emit, the sink that carries them, the writer that
upserts them into Neptune or gremlite, and the queries that read them back.

Importing this package stays light: gremlinpython loads only in graph/writer/queries.
"""

from dagtrail.lineage.records import ArtifactRef, LineageRecord
from dagtrail.lineage.sink import emit

__all__ = ["ArtifactRef", "LineageRecord", "emit"]
