"""`flask --app wsgi worker`: the exchange, deadline and supervision jobs in a process of their own.

The same job functions app/scheduler.py runs inside `make run`, in a loop: the exchange cycle every
EXCHANGE_INTERVAL_SECONDS (5 s), the deadline sweep and the supervision sweep every 5 minutes, the statistics
rollup refresh every minute, the pruning of old attempt-budget windows (app.throttle) every hour; and the sweep of
what killed processes left behind (temporary files in the blob store, leftovers on this node's inbox on the store:
exchange.jobs.sweep_leftovers) at start-up and every 10 minutes. SIGTERM or SIGINT
stops the worker once the step in progress has finished (a second signal stops it at once; the open transaction
is rolled back). Several workers may run at once, on several hosts, against one PostgreSQL database: outbox rows
are claimed with FOR UPDATE SKIP LOCKED, an inbound MessageId is claimed before it is applied, cases the deadline
sweep terminates are claimed the same way, and the supervision sweep stamps each warning with a conditional
UPDATE that only one worker wins. On SQLite run one worker.
"""
from __future__ import annotations

import json
import logging
import signal
import time
from dataclasses import dataclass
from typing import Callable

import click
from flask import current_app
from flask.cli import with_appcontext

log = logging.getLogger("tongquan.worker")

JOB_NAMES = ("exchange", "deadlines", "supervision", "rollups", "rate-counters", "leftovers", "archives",
             "audit-seal", "notifications")
SWEEP_INTERVAL_SECONDS = 300
LEFTOVERS_INTERVAL_SECONDS = 600
ROLLUP_INTERVAL_SECONDS = 60
PRUNE_INTERVAL_SECONDS = 3600
ARCHIVE_INTERVAL_SECONDS = 600
NOTIFY_INTERVAL_SECONDS = 30
POLL_SECONDS = 0.5  # longest sleep between checks of the stop flag


@dataclass
class Job:
    name: str
    fn: Callable[[], dict | int | None]
    interval: float
    due: float = 0.0  # monotonic time of the next run


def default_jobs(app, names=JOB_NAMES, exchange_interval: float | None = None,
                 sweep_interval: float = SWEEP_INTERVAL_SECONDS, leftover_grace: float | None = None) -> list[Job]:
    import functools

    from delegation.cases import sweep
    from exchange.jobs import LEFTOVER_GRACE_SECONDS, run_once, sweep_leftovers
    from supervision.push_sweep import sweep as supervision_sweep

    from app import scheduler

    settings = app.config["TONGQUAN"]
    table = {
        "exchange": (run_once, exchange_interval or settings.exchange_interval_seconds),
        "deadlines": (sweep, sweep_interval),
        "supervision": (supervision_sweep, sweep_interval),
        "rate-counters": (scheduler.prune_rate_counters, PRUNE_INTERVAL_SECONDS),
        # First due at once: what a killed predecessor left is removed at start-up.
        "leftovers": (functools.partial(sweep_leftovers, leftover_grace or LEFTOVER_GRACE_SECONDS),
                      LEFTOVERS_INTERVAL_SECONDS),
    }
    from app import cli_archive

    # issue 19: concluded cases' packages every 10 minutes; the audit seal checked hourly, made once a day
    table["archives"] = (cli_archive.build_archives, ARCHIVE_INTERVAL_SECONDS)
    table["audit-seal"] = (cli_archive.seal_if_due, PRUNE_INTERVAL_SECONDS)
    from app import mailer  # issue 15: alerts, pushes to claim, automatic reminders, then the e-mail/SMS outbox

    table["notifications"] = (mailer.run_notification_jobs, NOTIFY_INTERVAL_SECONDS)
    # The statistics' rollup refresh, where the scheduler has it: every job `make run` schedules runs here too.
    refresh_rollups = getattr(scheduler, "refresh_rollups", None)
    if refresh_rollups is not None:
        table["rollups"] = (refresh_rollups, ROLLUP_INTERVAL_SECONDS)
    return [Job(name, *table[name]) for name in names if name in table]


class Worker:
    def __init__(self, app, jobs: list[Job]):
        self.app = app
        self.jobs = jobs
        self.stopping = False
        self.step: str | None = None

    # -- signals ----------------------------------------------------------------------------------------------

    def _on_signal(self, signum, _frame):
        name = signal.Signals(signum).name
        if self.stopping:
            log.warning("%s again: stopping now", name)
            raise KeyboardInterrupt
        self.stopping = True
        if self.step:
            log.info("%s: stopping after the current step (%s)", name, self.step)
        else:
            log.info("%s: stopping", name)

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    # -- the loop ---------------------------------------------------------------------------------------------

    def run_step(self, job: Job) -> None:
        from app.extensions import db

        self.step = job.name
        started = time.perf_counter()
        try:
            with self.app.app_context():
                try:
                    result = job.fn()
                except Exception:
                    db.session.rollback()
                    log.exception("job %s failed", job.name, extra={"job": job.name})
                    return
                finally:
                    db.session.remove()
            elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
            busy = any(result.values()) if isinstance(result, dict) else bool(result)
            log.log(logging.INFO if busy else logging.DEBUG, "job %s: %s", job.name, json.dumps(result),
                    extra={"job": job.name, "result": result, "duration_ms": elapsed_ms})
        finally:
            self.step = None
            job.due = time.monotonic() + job.interval

    def run(self, once: bool = False) -> None:
        """Run every job when it is due until stopped; with `once`, every job one time and return."""
        settings = self.app.config["TONGQUAN"]
        log.info("worker started: node %s, jobs %s", settings.node_id,
                 ", ".join(f"{j.name} every {j.interval:g} s" for j in self.jobs))
        while not self.stopping:
            for job in self.jobs:
                if self.stopping:
                    break
                if once or time.monotonic() >= job.due:
                    self.run_step(job)
            if once:
                break
            while not self.stopping:
                wait = min(j.due for j in self.jobs) - time.monotonic()
                if wait <= 0:
                    break
                time.sleep(min(wait, POLL_SECONDS))
        log.info("worker stopped")


@click.command("worker")
@click.option("--job", "names", multiple=True, type=click.Choice(JOB_NAMES),
              help="run only this job (repeatable); default: all")
@click.option("--exchange-interval", type=click.FloatRange(min=0.1), default=None,
              help="seconds between exchange cycles (default EXCHANGE_INTERVAL_SECONDS, 5)")
@click.option("--sweep-interval", type=click.FloatRange(min=1), default=SWEEP_INTERVAL_SECONDS, show_default=True,
              help="seconds between deadline and supervision sweeps")
@click.option("--leftover-grace", type=click.FloatRange(min=1), default=None,
              help="seconds after which a leftover on the store or a temporary blob file is stale (default 3600)")
@click.option("--once", is_flag=True, help="run each job once and exit")
@with_appcontext
def worker_cmd(names, exchange_interval, sweep_interval, leftover_grace, once):
    """Run the exchange, deadline and supervision jobs until SIGTERM / SIGINT (safe on several hosts)."""
    app = current_app._get_current_object()
    scheduler = app.extensions.pop("tongquan.scheduler", None)
    if scheduler is not None:  # TONGQUAN_RUN_JOBS=1 in the worker's environment: one loop is enough
        scheduler.shutdown(wait=False)
        log.warning("TONGQUAN_RUN_JOBS is set: the in-process scheduler is stopped, the worker runs the jobs")
    jobs = default_jobs(app, names or JOB_NAMES, exchange_interval, sweep_interval, leftover_grace)
    if not jobs:
        raise click.ClickException(f"no such job here: {', '.join(names)}")
    worker = Worker(app, jobs)
    worker.install_signal_handlers()
    try:
        worker.run(once=once)
    except KeyboardInterrupt:
        log.warning("worker interrupted during %s", worker.step or "a pause")
        raise SystemExit(130) from None
