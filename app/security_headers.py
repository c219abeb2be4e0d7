"""Security headers on every response: pages, the API, static files and error pages alike.

- Content-Security-Policy: scripts only from this site's own files (no inline script, no eval), so an injected
  <script> or on*= attribute would not run even if escaping ever failed. Styles allow 'unsafe-inline': ECharts
  writes style attributes into its tooltips, the notices and the spot-check pages carry a <style> block, and CSS
  cannot run script. Images may be data: URLs (Swagger UI's icons).
- No framing (frame-ancestors 'none' and, for older browsers, X-Frame-Options DENY): no clickjacking of a form.
  A response that asks to be framed by this site's own pages (X-Frame-Options SAMEORIGIN: an uploaded PDF the
  case page shows in an iframe) gets frame-ancestors 'self' instead.
- Referrer-Policy same-origin: a case number in a URL never leaves for another site.
- X-Content-Type-Options nosniff: an uploaded file is never run as script or style.
- Strict-Transport-Security in production only (the production profile is served over HTTPS behind nginx; the
  development server speaks plain HTTP on loopback, where HSTS would break it).
- No server version: the application sets no Server header, and Werkzeug's development server (`make run`),
  which would announce `Werkzeug/3.x Python/3.x`, says only "tongquan" (gunicorn says "gunicorn", no version).
"""
from __future__ import annotations

from flask import Flask, Response

FRAME_ANCESTORS = "frame-ancestors 'none'"
CSP = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    FRAME_ANCESTORS,
))
CSP_SAME_ORIGIN_FRAMES = CSP.replace(FRAME_ANCESTORS, "frame-ancestors 'self'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}
HSTS = "max-age=31536000"  # a year; no includeSubDomains: other sites of the same domain are not ours to bind
SERVER_NAME = "tongquan"


def init_security_headers(app: Flask) -> None:
    headers = dict(HEADERS)
    if app.config["TONGQUAN"].env == "production":
        headers["Strict-Transport-Security"] = HSTS

    @app.after_request
    def _security_headers(response: Response) -> Response:
        if response.headers.get("X-Frame-Options") == "SAMEORIGIN":
            response.headers.setdefault("Content-Security-Policy", CSP_SAME_ORIGIN_FRAMES)
        for name, value in headers.items():
            response.headers.setdefault(name, value)  # a view with a stricter need of its own keeps it
        return response

    _quiet_development_server()


def _quiet_development_server() -> None:
    """Werkzeug's request handler sends `Server: <version_string()>`; the response cannot remove it."""
    from werkzeug.serving import WSGIRequestHandler

    WSGIRequestHandler.version_string = lambda self: SERVER_NAME
