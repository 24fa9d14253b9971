"""`dagtrail run`: one workflow run through the real pipeline on one machine.

moto hosts Step Functions (running the compiled ASL), DynamoDB, S3 and SQS in-process; the
state machine's Lambda invocations dispatch to functions/*/app.py; tasks run as local
processes that report Batch-shaped events, which are routed to the handlers the way the
EventBridge rules in template.yaml route them on AWS; lineage records travel through an
SQS queue to the lineage_writer handler, into <workdir>/lineage.db.
"""

from __future__ import annotations

import gc
import json
import queue
import secrets
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dagtrail import aws, compute
from dagtrail.local import moto_patches, services, state
from dagtrail.local.handlers import HandlerRegistry
from dagtrail.local.lineage_worker import LineageWriter, start_writer
from dagtrail.local.processes import ProcessBackend, docker_available
from dagtrail.local.progress import Progress
from dagtrail.local.summary import RunSummary, artifacts, task_states
from dagtrail.runs.models import RunRecord
from dagtrail.runs.table import RunsTable
from dagtrail.spec.models import WorkflowSpec

# The loop wakes on every delivered event and when the execution ends (moto_patches.
# on_execution_end); otherwise it looks again after WAIT_SECONDS, and describes the execution
# at least every DESCRIBE_EVERY_SECONDS in case an end went unnoticed.
WAIT_SECONDS = 0.25
DESCRIBE_EVERY_SECONDS = 2.0
LINEAGE_EVERY_EVENTS = 50
LINEAGE_EVERY_SECONDS = 0.5  # larger batches: records repeated across events are written once
LINEAGE_BATCH_SIZE = 100  # template.yaml: LineageWriterFunction's SQS event source BatchSize
LINEAGE_VISIBILITY_SECONDS = 360  # template.yaml: LineageQueue's VisibilityTimeout
LINEAGE_MAX_RECEIVES = 3  # local/services.py: the local lineage queue's maxReceiveCount
PROGRESS_EVERY_SECONDS = 0.5  # each redraw reads the runs table
RECONCILE_EVERY_SECONDS = 5.0  # the scheduled reconcile Lambda, at a local pace
ABANDON_WAIT_SECONDS = 5.0  # for moto's interpreter to wind a stopped execution down
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


def _quiet_emulator(log_file: Path):
    """moto and Powertools write diagnostics to the console; keep them in the workdir's log."""
    import logging
    import warnings

    handler = logging.FileHandler(log_file)
    loggers = [logging.getLogger(name) for name in ("moto",)]
    saved = [(lg, lg.propagate, lg.level) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.propagate = False
        lg.setLevel(logging.INFO)
    catcher = warnings.catch_warnings()
    catcher.__enter__()
    warnings.filterwarnings("ignore", module="aws_lambda_powertools")
    warnings.filterwarnings("ignore", message="No application metrics")

    def undo() -> None:
        catcher.__exit__(None, None, None)
        for lg, propagate, level in saved:
            lg.removeHandler(handler)
            lg.propagate, lg.level = propagate, level
        handler.close()

    return undo


def _scheduled_event() -> dict[str, Any]:
    return {"version": "0", "id": secrets.token_hex(16), "detail-type": "Scheduled Event",
            "source": "aws.events", "account": services.ACCOUNT, "region": services.REGION,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "resources": [], "detail": {}}


def save_spec(workdir: Path, run_id: str, spec: WorkflowSpec, params: Mapping[str, Any]) -> None:
    """What `dagtrail resume` starts again: the run's spec and resolved params."""
    target = workdir / "runs" / run_id / "spec.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({"spec": spec.model_dump(mode="json"), "params": dict(params)}, indent=1))


def load_saved_spec(workdir: Path, run_id: str) -> tuple[WorkflowSpec, dict[str, Any]]:
    from dagtrail.errors import NotFoundError

    source = workdir / "runs" / run_id / "spec.json"
    if not source.exists():
        raise NotFoundError(f"no local run {run_id!r} in {workdir} (looked for {source})")
    saved = json.loads(source.read_text())
    return WorkflowSpec.model_validate(saved["spec"]), saved["params"]


def new_run_id(workflow: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{workflow}-{stamp}-{secrets.token_hex(3)}"


class LocalRun:
    def __init__(self, spec: WorkflowSpec, params: Mapping[str, Any], workdir: Path, *,
                 max_parallel: int | None = None, docker: bool | None = None,
                 progress: Progress | None = None, retry_sleep_factor: float = 1.0,
                 event_log: Path | None = None, options: Mapping[str, Any] | None = None,
                 reclaim_memory: bool = True) -> None:
        self.spec = spec
        self.options = dict(options or {})  # no_cache, resume_from (runs table RunRecord.options)
        self.params = dict(params)
        self.workdir = workdir.resolve()
        self.max_parallel = max_parallel
        self.docker = docker_available() if docker is None else docker
        self.progress = progress
        self.retry_sleep_factor = retry_sleep_factor
        # Every handler invocation as a JSON line (local/handlers.py): events, lineage batches.
        self.event_log = event_log
        # Collect the run's garbage when it ends (about 0.15 s): without it, the next run in this
        # process freezes that garbage with its own set-up, and the process grows by every run
        # it makes. The CLI opts out: its process ends with the run (cli/console.py).
        self.reclaim_memory = reclaim_memory
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._wake = threading.Event()  # an event arrived, or the execution ended
        self._ended = threading.Event()
        self.run_id = new_run_id(spec.name)

    def execute(self) -> RunSummary:
        collecting = gc.isenabled()
        # Set-up allocates what lives as long as the run (moto's services and ASL grammar,
        # botocore's service models): collecting during it only rescans that heap, a third
        # of a short run's CPU. Frozen once set up, full collections skip it.
        gc.disable()
        try:
            return self._execute()
        finally:
            gc.unfreeze()
            if self.reclaim_memory:
                gc.collect()
            if collecting:
                gc.enable()

    def _execute(self) -> RunSummary:
        from moto import mock_aws

        from dagtrail.compiler import compile_workflow

        self.workdir.mkdir(parents=True, exist_ok=True)
        definition = moto_patches.definition_text(compile_workflow(self.spec))
        previous = services.apply_environment(self.workdir)
        undo: list = []
        backend = ProcessBackend(self.workdir, self._emit, max_parallel=self.max_parallel,
                                 use_docker=self.docker, job_queue_arn=services.JOB_QUEUE_ARN)
        try:
            with mock_aws(config=services.MOTO_CONFIG):
                aws.reset_clients()
                undo.append(moto_patches.speedups(services.parse_cache_dir()))
                stack = services.create_resources()
                self.registry = HandlerRegistry(self.workdir / "handlers.log", self.event_log)
                undo.append(self.registry.close)
                undo.append(_quiet_emulator(self.workdir / "handlers.log"))
                undo.append(moto_patches.install_lambda_dispatch(self.registry.invoke))
                undo.append(moto_patches.fresh_token_per_attempt())
                undo.append(moto_patches.on_execution_end(self._execution_ended))
                undo.append(moto_patches.stop_releases_waiting_tasks())
                if self.retry_sleep_factor != 1.0:
                    undo.append(moto_patches.fast_retries(self.retry_sleep_factor))
                compute.use_local(backend)
                undo.append(lambda: compute.use_local(None))
                for logical_id, arn in stack.function_arns.items():
                    definition = definition.replace("${%sArn}" % logical_id, arn)
                state.load(self.workdir, services.RUNS_TABLE)
                gc.freeze()
                gc.enable()
                try:
                    return self._run(definition, stack)
                finally:
                    state.save(self.workdir, services.RUNS_TABLE)
        finally:
            backend.shutdown()
            for fn in reversed(undo):
                fn()
            services.restore_environment(previous)
            moto_patches.join_interpreter_threads(0)

    def _run(self, definition: str, stack: services.LocalStack) -> RunSummary:
        sfn = aws.client("stepfunctions")
        machine = sfn.create_state_machine(
            name=f"{services.STACK}-{self.spec.name}", definition=definition, roleArn=stack.role_arn,
        )["stateMachineArn"]
        table = RunsTable()
        # Before the first task: submit_task reads the run's options (cache, resume) here.
        table.put_run(RunRecord(run_id=self.run_id, workflow=self.spec.name, params=self.params,
                                options=self.options))
        save_spec(self.workdir, self.run_id, self.spec, self.params)
        # Before the first Step Functions thread: the writer's process forks from one thread.
        self.lineage_worker = start_writer(self.registry)
        self.stack = stack  # from here on, deliveries drain lineage too
        try:
            return self._follow(sfn, machine, table, stack)
        except BaseException:
            self._abandon(sfn)
            raise
        finally:
            self.lineage_worker.close()

    def _abandon(self, sfn: Any) -> None:
        """A run the engine gives up on stops its execution: moto's states that wait for task
        tokens end now instead of at their timeouts, and take their threads with them."""
        execution = getattr(self, "_execution_arn", None)
        if execution is None:
            return
        try:
            sfn.stop_execution(executionArn=execution, error="dagtrail.LocalRunAborted",
                               cause="the local engine stopped the run")
        except Exception:  # the error that ended the run is the one to report
            return
        moto_patches.join_interpreter_threads(ABANDON_WAIT_SECONDS)

    def _follow(self, sfn: Any, machine: str, table: RunsTable, stack: services.LocalStack) -> RunSummary:
        execution = sfn.start_execution(stateMachineArn=machine, name=self.run_id,
                                        input=json.dumps({"params": self.params}))["executionArn"]
        self._execution_event(sfn.describe_execution(executionArn=execution))
        self._execution_arn = execution
        names = list(self.spec.tasks)
        next_reconcile = time.monotonic() + RECONCILE_EVERY_SECONDS
        next_describe = lineage_at = 0.0
        self._progress_table, self._progress_at, self._progress_seen = table, 0.0, -1
        while True:
            self._wake.clear()  # before delivering: whatever arrives from here on wakes the wait
            self._deliver_events()
            now = time.monotonic()
            if now >= lineage_at:
                self._drain_lineage(stack)
                lineage_at = time.monotonic() + LINEAGE_EVERY_SECONDS
            if now >= next_reconcile:
                self.registry.invoke("ReconcileFunction", _scheduled_event())
                next_reconcile = time.monotonic() + RECONCILE_EVERY_SECONDS
            self._show_progress()
            if self._ended.is_set() or now >= next_describe:
                described = sfn.describe_execution(executionArn=execution)
                if described["status"] in TERMINAL:
                    break
                next_describe = time.monotonic() + DESCRIBE_EVERY_SECONDS
            self._wake.wait(WAIT_SECONDS)
        self._deliver_events()
        self._execution_event(described)
        self._drain_lineage(stack, final=True)
        self._keep_unwritten_lineage(stack)
        with self.registry.lock:
            states = task_states(table, self.run_id, names)
            produced = artifacts(table, self.run_id, names)
        if self.progress:
            self.progress.update(states)
        return RunSummary(
            run_id=self.run_id, workflow=self.spec.name,
            status="SUCCEEDED" if described["status"] == "SUCCEEDED" else "FAILED",
            started_at=described["startDate"].isoformat(),
            stopped_at=described.get("stopDate", datetime.now(UTC)).isoformat(),
            error=described.get("error"), cause=described.get("cause"),
            tasks=list(states.values()), artifacts=produced,
        )

    # -- event delivery -----------------------------------------------------------------
    def _emit(self, event: dict[str, Any]) -> None:
        self.events.put(event)
        self._wake.set()

    def _execution_ended(self, execution_arn: str) -> None:
        if execution_arn == getattr(self, "_execution_arn", None):
            self._ended.set()
            self._wake.set()

    def _deliver_events(self) -> None:
        delivered = 0
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return
            for logical_id in self._route(event):
                self.registry.invoke(logical_id, event)
            delivered += 1
            if delivered % LINEAGE_EVERY_EVENTS == 0 and hasattr(self, "stack"):
                # A sweep sends thousands of events at once: moto's SQS slows down with
                # the queue's length, so the lineage queue is drained as it fills.
                self._drain_lineage(self.stack)
                self._show_progress()

    def _show_progress(self) -> None:
        """Redraw progress, at most every PROGRESS_EVERY_SECONDS (a runs-table query each)."""
        if not self.progress or not hasattr(self, "_progress_table") or time.monotonic() < self._progress_at:
            return
        if self.registry.invocations == self._progress_seen:
            return
        with self.registry.lock:
            self._progress_seen = self.registry.invocations
            states = task_states(self._progress_table, self.run_id, list(self.spec.tasks))
        self.progress.update(states)
        self._progress_at = time.monotonic() + PROGRESS_EVERY_SECONDS

    def _route(self, event: dict[str, Any]) -> list[str]:
        """The EventBridge rules of template.yaml decide, as they do on AWS (read once per run)."""
        if not hasattr(self, "_routes"):
            from dagtrail.events.routing import load_routes

            self._routes = load_routes(services.TEMPLATE, {"AWS::StackName": services.STACK})
        out: list[str] = []
        for r in self._routes:
            if r.target not in out and r.test(event):
                out.append(r.target)
        return out

    def _execution_event(self, described: dict[str, Any]) -> None:
        """moto emits no aws.states events: make the one AWS would send."""
        def ms(value: Any) -> int | None:
            return int(value.timestamp() * 1000) if value else None

        detail = {
            "executionArn": described["executionArn"], "stateMachineArn": described["stateMachineArn"],
            "name": described["name"], "status": described["status"],
            "startDate": ms(described.get("startDate")), "stopDate": ms(described.get("stopDate")),
            "input": described.get("input"), "output": described.get("output"),
            "error": described.get("error"), "cause": described.get("cause"),
        }
        self.events.put({
            "version": "0", "id": secrets.token_hex(16), "detail-type": "Step Functions Execution Status Change",
            "source": "aws.states", "account": services.ACCOUNT, "region": services.REGION,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "resources": [described["executionArn"]], "detail": detail,
        })
        self._deliver_events()

    def _keep_unwritten_lineage(self, stack: services.LocalStack) -> None:
        """Records the graph refused would vanish with moto: keep them for `dagtrail lineage replay`."""
        from dagtrail.lineage import replay

        replay.save_unwritten([stack.lineage_queue_url, stack.lineage_dlq_url], replay.dlq_file(self.workdir))

    def _drain_lineage(self, stack: services.LocalStack, final: bool = False) -> None:
        """The SQS event source mapping of lineage_writer, in miniature.

        `final`: the run is over, so redeliver refused messages at once, as the mapping would
        keep doing, until they are written or the queue's maxReceiveCount moves them to the DLQ.
        """
        sqs = aws.client("sqs")
        refusals = 0
        writer = self.lineage_worker
        while True:
            if writer.busy:
                if not (final or writer.done()):
                    return  # still writing: its answer is collected on a later cycle
                if not self._settle_lineage(sqs, stack, self._lineage_in_flight, writer):
                    refusals += 1
                    if not final or refusals > LINEAGE_MAX_RECEIVES:
                        return
            messages: list[dict[str, Any]] = []
            while len(messages) < LINEAGE_BATCH_SIZE:  # one invocation takes up to BatchSize messages
                # Hidden while the batch is collected and written, as the event source mapping
                # hides them: the queue's own timeout is 0 (redelivery on the next cycle), so
                # without this each receive would return the same messages again, count a
                # receive against maxReceiveCount and dead-letter records that were written.
                got = sqs.receive_message(QueueUrl=stack.lineage_queue_url, MaxNumberOfMessages=10,
                                          VisibilityTimeout=LINEAGE_VISIBILITY_SECONDS,
                                          AttributeNames=["All"]).get("Messages", [])
                messages += got
                if len(got) < 10:
                    break
            if not messages:
                return
            event = {"Records": [{
                "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                "attributes": m.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs", "awsRegion": services.REGION,
                "eventSourceARN": f"arn:aws:sqs:{services.REGION}:{services.ACCOUNT}:{services.LINEAGE_QUEUE}",
            } for m in messages]}
            writer.submit(event)  # its answer is collected at the top
            self._lineage_in_flight = messages

    def _settle_lineage(self, sqs: Any, stack: services.LocalStack, messages: list[dict[str, Any]],
                        writer: LineageWriter) -> bool:
        """Delete what the writer wrote, make what it refused visible again; False if it refused some."""
        try:
            result = writer.result() or {}
        except BaseException:
            _release(sqs, stack.lineage_queue_url, messages)
            raise
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        for k in range(0, len(done), 10):  # DeleteMessageBatch takes 10 entries
            sqs.delete_message_batch(QueueUrl=stack.lineage_queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[k:k + 10])])
        if failed:
            # Redelivered on the next cycle; the DLQ takes them after 3 receives.
            _release(sqs, stack.lineage_queue_url, [m for m in messages if m["MessageId"] in failed])
        return not failed


def _release(sqs: Any, queue_url: str, messages: list[dict[str, Any]]) -> None:
    """Make received messages visible again at once (the queue's own visibility timeout)."""
    for k in range(0, len(messages), 10):
        sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for i, m in enumerate(messages[k:k + 10])])
