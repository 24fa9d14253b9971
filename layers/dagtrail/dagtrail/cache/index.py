"""The cache index: cache key → the attempt whose outputs answer it, in the runs table.

(DESIGN.md first put the index in the lineage graph; a DynamoDB item keeps gremlinpython out
of submit_task's cold start and is one consistent read.)
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from dagtrail import aws, settings
from dagtrail.dynamo_values import from_item, to_attribute

_SK = "CACHE"


class CacheEntry(BaseModel):
    key: str
    run_id: str
    workflow: str
    task: str
    attempt: int
    output_prefix: str
    created_at: str


class CacheIndex:
    def __init__(self, table: str | None = None) -> None:
        self.table = table or settings.load().runs_table
        self._ddb = aws.client("dynamodb")

    def get(self, key: str) -> CacheEntry | None:
        item = self._ddb.get_item(TableName=self.table, Key=_key(key), ConsistentRead=True).get("Item")
        if not item:
            return None
        return CacheEntry(key=key, **{k: v for k, v in from_item(item).items() if k not in ("pk", "sk")})

    def put(self, entry: CacheEntry) -> None:
        """First writer wins: a later identical computation does not move the entry."""
        from botocore.exceptions import ClientError

        item = {k: to_attribute(v) for k, v in entry.model_dump(exclude={"key"}).items()}
        try:
            self._ddb.put_item(TableName=self.table, Item=_key(entry.key) | item,
                               ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    def forget(self, key: str) -> None:
        """Drop an entry whose outputs are gone (expired or deleted)."""
        self._ddb.delete_item(TableName=self.table, Key=_key(key))


def _key(key: str) -> dict[str, Any]:
    return {"pk": {"S": f"CACHE#{key}"}, "sk": {"S": _SK}}
