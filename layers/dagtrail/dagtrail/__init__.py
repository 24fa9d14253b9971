"""dagtrail: serverless workflows on AWS with a lineage graph."""

__version__ = "0.1.0"

_FLOW_EXPORTS = ("task", "workflow", "outputs")


def __getattr__(name: str):
    # `from dagtrail import task, workflow` without importing pydantic for every `import dagtrail`.
    if name in _FLOW_EXPORTS:
        from dagtrail import flow

        return getattr(flow, name)
    raise AttributeError(f"module 'dagtrail' has no attribute {name!r}")
