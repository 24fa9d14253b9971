"""dagtrail: serverless workflows on AWS with a lineage graph."""

__version__ = "0.1.0"
