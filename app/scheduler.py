"""In-process jobs for the embedded deployment (`make run`): the bus and the deadline sweep.

A single scheduler per process; on SQLite only one process should run it (TONGQUAN_RUN_JOBS=1).
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger(__name__)


def _in_app(app, fn):
    def run():
        with app.app_context():
            try:
                fn()
            except Exception:
                log.exception("job %s failed", fn.__name__)
                from app.extensions import db

                db.session.rollback()
    run.__name__ = run.__qualname__ = f"{fn.__module__}.{fn.__name__}"
    return run


def refresh_rollups() -> None:
    """The statistics' facts and rollups: recompute the cases changed since the last run (supervision.rollup)."""
    from app.extensions import db
    from supervision import rollup

    rollup.refresh()
    db.session.commit()


def prune_rate_counters() -> int:
    """Forget attempt budgets' windows older than a day (app.throttle): a guesser's case numbers and addresses
    would otherwise stay in rate_counter for ever."""
    from app import throttle
    from app.extensions import db

    removed = throttle.prune()
    db.session.commit()
    return removed


def start_scheduler(app) -> BackgroundScheduler:
    from delegation.cases import sweep
    from exchange.jobs import run_once
    from supervision.push_sweep import sweep as supervision_sweep

    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per run every 5 s drowns the log
    settings = app.config["TONGQUAN"]
    scheduler = BackgroundScheduler(timezone="Asia/Shanghai")
    scheduler.add_job(_in_app(app, run_once), "interval", seconds=settings.exchange_interval_seconds,
                      id="exchange", max_instances=1, coalesce=True)
    scheduler.add_job(_in_app(app, sweep), "interval", minutes=5, id="deadlines", max_instances=1, coalesce=True)
    scheduler.add_job(_in_app(app, supervision_sweep), "interval", minutes=5, id="supervision", max_instances=1,
                      coalesce=True)
    scheduler.add_job(_in_app(app, refresh_rollups), "interval", seconds=60, id="stats-rollups", max_instances=1,
                      coalesce=True)
    scheduler.add_job(_in_app(app, prune_rate_counters), "interval", hours=1, id="rate-counters", max_instances=1,
                      coalesce=True)
    from exchange.jobs import sweep_leftovers  # what killed processes left (issue 21)

    leftovers = _in_app(app, sweep_leftovers)
    scheduler.add_job(leftovers, "interval", minutes=10, id="leftovers", max_instances=1, coalesce=True,
                      next_run_time=datetime.now(timezone.utc))
    from app import cli_archive  # issue 19: concluded cases' packages; one audit seal a day

    scheduler.add_job(_in_app(app, cli_archive.build_archives), "interval", minutes=10, id="archives",
                      max_instances=1, coalesce=True)
    scheduler.add_job(_in_app(app, cli_archive.seal_if_due), "interval", hours=1, id="audit-seal", max_instances=1,
                      coalesce=True)
    from app import mailer  # issue 15: alerts, pushes to claim, automatic reminders, the e-mail/SMS outbox

    scheduler.add_job(_in_app(app, mailer.run_notification_jobs), "interval", seconds=30, id="notifications",
                      max_instances=1, coalesce=True)
    scheduler.start()
    app.extensions["tongquan.scheduler"] = scheduler
    return scheduler
