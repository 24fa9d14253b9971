"""What submit_task asks a compute backend to run."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from dagtrail.spec.models import Resources


class JobRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    workflow: str
    run_id: str
    task: str
    attempt: int
    image: str
    command: tuple[str, ...]
    env: dict[str, str] = Field(default_factory=dict)
    resources: Resources = Field(default_factory=Resources)
    timeout: int
    compute: str = "batch"
    output_prefix: str
    inputs: dict[str, str] = Field(default_factory=dict)  # dependency -> its output prefix
    # Sweeps: an array job of `array_size` children (item = offset + child index, read from
    # `items_uri`), each tried up to `item_tries` times; or one item's job (`item_index`).
    array_size: int | None = None
    item_offset: int = 0
    items_uri: str | None = None
    item_tries: int = 1
    max_parallel: int | None = None
    item_index: int | None = None
    item_try: int | None = None

    @property
    def tags(self) -> dict[str, str]:
        return {
            "dagtrail:workflow": self.workflow,
            "dagtrail:run": self.run_id,
            "dagtrail:task": self.task,
            "dagtrail:attempt": str(self.attempt),
        }

    @property
    def job_name(self) -> str:
        """Batch job names allow letters, digits, '-' and '_', at most 128 characters."""
        raw = f"{self.workflow}-{self.task}-{self.attempt}-{self.run_id}"
        return "".join(c if c.isalnum() or c in "-_" else "-" for c in raw)[:128]


class SubmitThrottled(Exception):
    """The backend refused the submission for now (429); the state machine retries it."""


# Lambda reports an exception's class name as the error Step Functions matches in Retry,
# and the compiled machines retry "dagtrail.SubmitThrottled".
SubmitThrottled.__name__ = SubmitThrottled.__qualname__ = "dagtrail.SubmitThrottled"
