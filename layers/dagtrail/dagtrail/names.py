"""Name rules shared by the spec and the S3 triggers, without the spec package.

The triggers match object keys against them; importing dagtrail.spec for two regular
expressions would load the spec models and parameter rendering into their cold start.
"""

import re

WORKFLOW_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
TASK_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
