"""Event triggers: uploads start runs, results manifests become lineage, alarms notify.

Each module's `handle(event)` is a Lambda handler's whole job and never raises on an event
it does not own: the answer is `{"ignored": why}` (or per object, `status: "ignored"`).
Submodules are imported by the handler that needs them, so each Lambda loads only its own.
"""

__all__ = ["alarms", "artifacts", "s3_events", "upload"]
