"""What every EventBridge event dagtrail consumes shares: the envelope, and the base of its models.

Tolerant of fields AWS adds later (extra fields are ignored), strict about what we use. A
module of its own so that a handler imports the models of its own detail-types only.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Loose(BaseModel):
    # defer_build: each handler validates one or two detail-types; the rest never pay
    # pydantic's schema build at cold start.
    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)


class EventEnvelope(Loose):
    id: str = ""
    detail_type: str = Field(alias="detail-type")
    source: str
    account: str = ""
    time: str = ""
    region: str = ""
    resources: list[str] = Field(default_factory=list)
    detail: dict[str, Any]
