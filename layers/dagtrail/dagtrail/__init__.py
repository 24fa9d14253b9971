"""dagtrail: serverless workflows on AWS with a lineage graph.

The Python workflow API is `from dagtrail.flow import task, workflow, outputs`; there is no
top-level alias, because `dagtrail.task` is the container wrapper package.
"""

__version__ = "0.1.0"
