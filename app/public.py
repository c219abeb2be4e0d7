"""Public pages, no login: the published spot checks (双随机一公开).

Only what the public is owed is shown: the criteria, the population and sample sizes, the seed, and for each sampled
case its number, item, county and finding. No staff name or username, no applicant, no finding note (free text
that could name someone). Also the budgets of every endpoint that checks a case's query code (below)."""
from __future__ import annotations

import math

import sqlalchemy as sa
from flask import Blueprint, render_template, request
from flask_limiter import Limiter

from app import throttle
from app.extensions import db
from delegation.deadlines import SHANGHAI
from delegation.errors import DomainError
from delegation.models import Division, Item
from supervision import spotchecks

bp = Blueprint("public", __name__)

# -- rate limit of the query-code endpoints ----------------------------------------------------------------------
# The query code is 6 digits: guessing it must be stopped. Every endpoint that checks a case number + query code
# (the lookup page, the rating page, the JSON rating API) shares two kinds of budget:
# - per client address (Flask-Limiter): 10 wrong answers (404) and 60 attempts of any outcome per 10 minutes. An
#   IPv6 client counts by its /64 (app.throttle.client_key). They count in RATELIMIT_STORAGE_URI (settings):
#   memory:// counts per process, so several gunicorn workers must name a shared store (gunicorn.conf.py refuses
#   to start otherwise); production counts in the database by default (database://, app/ratelimit_store.py). Behind nginx the address comes from X-Forwarded-For through ProxyFix (PROXY_HOPS).
# - per case number, whatever the address (app.throttle, in the database, shared by every worker and host): 10
#   checks of a code per case per 10 minutes. Many addresses together cannot get more than that (the windows are
#   fixed, so a burst across a window's edge gets at most twice the budget).
# Fixed windows, each opened by its first attempt: every store keeps them (the database store keeps no moving
# window), and the per-case budget already fixes the worst case of a burst across a window's edge.
limiter = Limiter(lambda: throttle.client_key(_remote_addr()), strategy="fixed-window")
QUERY_CODE_SCOPE = "query-code"
WRONG_CODE_LIMIT = "10 per 10 minutes"
ATTEMPT_LIMIT = "60 per 10 minutes"
CASE_SCOPE = "query-code-case"
CASE_BUDGET = 10
CASE_WINDOW_SECONDS = 600


def _remote_addr() -> str:
    return request.remote_addr or ""  # with PROXY_HOPS, ProxyFix has already put the client's address here


def query_code_limits(view):
    """The shared per-address budget of a view that checks a query code (POST only)."""
    view = limiter.shared_limit(WRONG_CODE_LIMIT, scope=QUERY_CODE_SCOPE + "-wrong", methods=["POST"],
                                deduct_when=lambda response: response.status_code == 404)(view)
    return limiter.shared_limit(ATTEMPT_LIMIT, scope=QUERY_CODE_SCOPE, methods=["POST"])(view)


class CaseQueryLocked(DomainError):
    """This case number's budget of code checks is spent for the current window (the API answers 429)."""

    status = 429


def spend_case_check(case_no: str) -> None:
    """Count one check of a query code against this case number before the code is compared; refuse when the
    window's budget is spent. Every check counts, right or wrong: the count and the decision are then one atomic
    statement (app.throttle.hit), so parallel guesses cannot slip past the budget between a read and a write, and
    no refund statement is needed. An applicant needs two or three checks (look up, then rate), far below it.
    A case number that does not exist is counted the same way, so the lock never tells which numbers exist.
    Committed at once: the view may roll its own work back, the attempt must stay counted."""
    used = throttle.hit(CASE_SCOPE, case_no, CASE_WINDOW_SECONDS)
    db.session.commit()
    if used > CASE_BUDGET:
        seconds = throttle.seconds_left(CASE_WINDOW_SECONDS)
        minutes = math.ceil(seconds / 60)
        raise CaseQueryLocked(
            "case_query_locked", f"该办件查询次数过多，为保护办件信息，暂停查询和评价，请 {minutes} 分钟后再试",
            f"too many query code checks for this case: lookups and ratings are paused, try again in {minutes} "
            f"minutes", field="case_no", retry_after=seconds)


def case_locked_problem(exc: CaseQueryLocked):
    """The API's answer (pages render their own): the problem, and when to come back."""
    from app.errors import lang, problem

    response = problem(exc.status, exc.code, exc.message(lang()), exc.field, **exc.extra)
    response.headers["Retry-After"] = str(exc.extra["retry_after"])
    return response


@bp.record_once
def _init_limiter(state) -> None:
    limiter.init_app(state.app)
    state.app.register_error_handler(CaseQueryLocked, case_locked_problem)

# The spot-check pages are public notices in Chinese (app/templates/public/spot_check*.html), under the site's
# header like every public page.


def _when(moment) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if moment else ""


def _names(model, key, codes) -> dict:
    codes = {c for c in codes if c}
    if not codes:
        return {}
    return dict(db.session.execute(sa.select(key, model.name).where(key.in_(codes))).all())


def _scope(criteria: dict, counties: dict, items: dict) -> str:
    parts = [counties.get(criteria.get("county"), criteria.get("county")) if criteria.get("county") else "全部县（市、区）",
             items.get(criteria.get("item"), criteria.get("item")) if criteria.get("item") else "全部下放事项"]
    if criteria.get("mode"):
        parts.append(spotchecks.MODE_ZH.get(criteria["mode"], criteria["mode"]))
    period = criteria.get("period") or {}
    if period.get("from") or period.get("to"):
        parts.append(f"决定日期 {period.get('from') or '不限'} 至 {period.get('to') or '不限'}")
    return "；".join(parts)


def _method(criteria: dict) -> str:
    if criteria.get("rate") is not None:
        return f"按 {float(criteria['rate']) * 100:g}% 比例抽取（向上取整）"
    return f"按件数抽取 {criteria.get('count')} 件"


def _summary(check) -> str:
    s = spotchecks.findings_summary(check)
    text = "，".join(f"{spotchecks.FINDING_ZH[f]} {s[f]} 件" for f in ("compliant", "defect_corrected",
                                                                      "illegal_approval"))
    return f"{text}，待检查 {s['pending']} 件"


def _public_view(check, counties, items, with_entries=False) -> dict:
    c = check.criteria
    view = {"id": check.id, "title": check.title, "scope": _scope(c, counties, items), "method": _method(c),
            "population": check.population, "sample_size": len(check.entries), "summary": _summary(check),
            "published": _when(check.published_at), "seed": check.seed, "digest": c.get("population_sha256")}
    if with_entries:
        facts = spotchecks.case_facts(e.case_no for e in check.entries)
        view["entries"] = [{
            "case_no": e.case_no, "item": facts.get(e.case_no, {}).get("item_name", ""),
            "county": facts.get(e.case_no, {}).get("county_name", ""),
            "mode": spotchecks.MODE_ZH.get(facts.get(e.case_no, {}).get("mode"), ""),
            "finding": spotchecks.FINDING_ZH[e.finding] if e.finding else "待检查",
        } for e in sorted(check.entries, key=lambda e: e.case_no)]
    return view


@bp.get("/public/spot-checks")
def spot_checks():
    checks = spotchecks.published_checks()
    counties = _names(Division, Division.code, (c.criteria.get("county") for c in checks))
    items = _names(Item, Item.code, (c.criteria.get("item") for c in checks))
    return render_template("public/spot_checks.html", checks=[_public_view(c, counties, items) for c in checks])


@bp.get("/public/spot-checks/<int:check_id>")
def spot_check(check_id):
    check = spotchecks.published_check(check_id)
    if check is None:
        return render_template("public/spot_check_missing.html"), 404
    counties = _names(Division, Division.code, [check.criteria.get("county")])
    items = _names(Item, Item.code, [check.criteria.get("item")])
    return render_template("public/spot_check.html", c=_public_view(check, counties, items, with_entries=True))
