"""The wrapper's life: stage inputs, run the command, stream outputs, log tail, manifest.

Exit code: the command's own (128+N if it died of signal N); 2 for a bad DAGTRAIL_*
variable; 125 when staging or uploading failed; 126/127 when the command cannot be run.
On SIGTERM/SIGINT the signal goes to the command's process group, uploads of closed files
go on for DAGTRAIL_STOP_GRACE_SECONDS, then the rest are aborted (and the command is
killed if it is still running), so the wrapper exits before the platform's SIGKILL.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence

from dagtrail.task import config as task_config
from dagtrail.task import item, manifest
from dagtrail.task.child import FORWARDED, Child, Tail, exit_code
from dagtrail.task.config import LOG_TAIL, MANIFEST, TaskConfig
from dagtrail.task.errors import (
    EXIT_CANNOT_EXECUTE, EXIT_NOT_FOUND, EXIT_WRAPPER_FAILED, TaskConfigError, WrapperError,
)
from dagtrail.task.outputs import OutputSync
from dagtrail.task.staging import stage_inputs
from dagtrail.task.upload import Uploader

log = logging.getLogger("dagtrail.task")
USAGE = "usage: python -m dagtrail.task -- COMMAND [ARG...]"
STOPPING = (signal.SIGTERM, signal.SIGINT)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        print(f"dagtrail-task: no command given\n{USAGE}", file=sys.stderr)
        return 2
    try:
        cfg = task_config.load()
    except TaskConfigError as exc:
        print(f"dagtrail-task: {exc}", file=sys.stderr)
        return exc.exit_code
    return Wrapper(cfg, argv).run()


class Wrapper:
    def __init__(self, cfg: TaskConfig, argv: list[str]) -> None:
        from dagtrail.task.s3client import s3_client  # boto3: only once the arguments are good

        self.cfg = cfg
        self.argv = argv
        self.tail = Tail(cfg.log_tail_bytes)
        self.client = s3_client(cfg.concurrency)
        self.cancel = threading.Event()  # set when the stop grace runs out: abort uploads
        self.stop_signal: int | None = None
        self.child: Child | None = None
        self._temp_dirs: list[str] = []

    def run(self) -> int:
        _log_to(self.tail)
        self._install_signal_handlers()
        output_dir = self._directory(self.cfg.output_dir, "dagtrail-output-")
        input_dir = self._directory(self.cfg.input_dir, "dagtrail-input-")
        uploader = Uploader(self.client, self.cfg.bucket, part_size=self.cfg.part_size,
                            concurrency=self.cfg.concurrency, cancel=self.cancel)
        sync = OutputSync(output_dir, uploader, self.cfg.key(""))
        code: int | None = None  # set once the command ran; a wrapper error before that has its own code
        try:
            code = self._run_command(sync, input_dir, output_dir)
            if code is None:  # never started: nothing to upload but the log
                code = EXIT_WRAPPER_FAILED if self.stop_signal is None else 128 + self.stop_signal
            else:
                entries = sync.finish()
                self._put_tail()
                if code == 0:
                    body = manifest.render(self.cfg.task, self.cfg.attempt, self.cfg.output_uri, entries)
                    self.client.put_object(Bucket=self.cfg.bucket, Key=self.cfg.key(MANIFEST), Body=body,
                                           ContentType="application/json")
                    log.info("wrote %s%s (%d artifacts)", self.cfg.output_uri, MANIFEST, len(entries))
                return code
        except WrapperError as exc:
            log.error("%s", exc)
            code = code if code not in (0, None) else exc.exit_code
        except Exception as exc:  # anything else still ends with a log tail and a failed attempt
            log.exception("wrapper failed: %s", exc)
            code = code if code not in (0, None) else EXIT_WRAPPER_FAILED
        finally:
            sync.close()
            uploader.close()
            for path in self._temp_dirs:
                shutil.rmtree(path, ignore_errors=True)
        self._put_tail()
        return code

    def _run_command(self, sync: OutputSync, input_dir: str, output_dir: str) -> int | None:
        argv, item_env = self._item_command()
        if self.cfg.inputs:
            count = stage_inputs(self.client, self.cfg.inputs, input_dir)
            log.info("staged %d input file(s) from %d dependencies", count, len(self.cfg.inputs))
        if self.stop_signal is not None:
            log.warning("stopped by signal %d before the command started", self.stop_signal)
            return None
        env = dict(os.environ) | item_env | {"DAGTRAIL_OUTPUT_DIR": output_dir, "DAGTRAIL_INPUT_DIR": input_dir}
        try:
            self.child = Child(argv, env, self.tail)
        except FileNotFoundError as exc:
            log.error("cannot run %r: %s", argv[0], exc.strerror or exc)
            return EXIT_NOT_FOUND
        except PermissionError as exc:
            log.error("cannot run %r: %s", argv[0], exc.strerror or exc)
            return EXIT_CANNOT_EXECUTE
        if self.stop_signal is not None:  # arrived while the child was starting
            self.child.signal(self.stop_signal)
        killed = False
        while (returncode := self.child.wait(self.cfg.poll_seconds)) is None:
            if self.cancel.is_set() and not killed:
                log.warning("the command outlived the stop grace period: killing it")
                self.child.signal(signal.SIGKILL)
                killed = True
            sync.poll()
        self.child.join_output()
        code = exit_code(returncode)
        log.info("command exited with %d", code)
        return code

    def _item_command(self) -> tuple[list[str], dict[str, str]]:
        """An array child's (or one-item array's) argv and env for its own item; else as given."""
        if self.cfg.items_uri is None or self.cfg.item_index is None:
            return self.argv, {}
        index = self.cfg.item_index
        value = item.read_item(self.client, self.cfg.items_uri, index)
        argv, env = item.render(self.argv, os.environ, value, index)
        log.info("item %d: %s", index, env["DAGTRAIL_ITEM"][:200])
        return argv, env

    def _put_tail(self) -> None:
        try:
            self.client.put_object(Bucket=self.cfg.bucket, Key=self.cfg.key(LOG_TAIL), Body=self.tail.getvalue(),
                                   ContentType="text/plain; charset=utf-8")
        except Exception as exc:  # the log tail is a convenience; CloudWatch has the full log
            log.warning("could not upload %s: %s", LOG_TAIL, exc)

    def _directory(self, path: str | None, prefix: str) -> str:
        if path is None:
            path = tempfile.mkdtemp(prefix=prefix)
            self._temp_dirs.append(path)
        os.makedirs(path, exist_ok=True)
        return os.path.realpath(path)

    def _install_signal_handlers(self) -> None:
        for signum in FORWARDED:
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, _frame) -> None:
        if self.child is not None:
            self.child.signal(signum)
        if signum in STOPPING and self.stop_signal is None:
            self.stop_signal = signum
            grace = self.cfg.stop_grace_seconds
            log.warning("got %s: forwarded; uploads may run %.0fs more", signal.Signals(signum).name, grace)
            timer = threading.Timer(grace, self.cancel.set)
            timer.daemon = True
            timer.start()


def _log_to(tail: Tail) -> None:
    """Our own messages go to stderr (CloudWatch) and into the log tail with the command's."""

    class TeeHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            line = (self.format(record) + "\n").encode(errors="replace")
            tail.write(line)
            try:
                sys.stderr.buffer.write(line)
                sys.stderr.buffer.flush()
            except (OSError, ValueError):
                pass

    handler = TeeHandler()
    handler.setFormatter(logging.Formatter("dagtrail-task: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False
