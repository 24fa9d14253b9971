"""The wrapper runs in any image with Python and boto3: nothing heavier may load on its path."""

import json
import subprocess
import sys

HEAVY = ("pydantic", "yaml", "gremlin_python", "aws_lambda_powertools", "moto", "dagtrail.results",
         "dagtrail.spec", "dagtrail.runs", "dagtrail.lineage", "dagtrail.local")


def test_the_wrapper_imports_only_stdlib_boto3_and_light_dagtrail_modules():
    code = "import sys, json, dagtrail.task.main, dagtrail.task.s3client; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, text=True).stdout)
    assert "boto3" in loaded
    assert [m for m in loaded if m.startswith(HEAVY)] == []
