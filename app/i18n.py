"""Page languages: Simplified Chinese by default, English on request (Flask-Babel).

The source strings are the Chinese the users read; `app/translations/en/LC_MESSAGES/messages.po` holds their English.
The catalogue is compiled into the instance folder when the app starts (and whenever the .po is newer), so a fresh
checkout needs no build step and no binary file lives in git. A test fails when a page string lacks its English."""
from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, has_request_context, request, session
from flask_babel import Babel

LANGUAGES = {"zh": "中文", "en": "English"}
DEFAULT_LANGUAGE = "zh"
SOURCE_DIR = Path(__file__).resolve().parent / "translations"
LANG_KEY = "lang"  # session key of the chosen language

babel = Babel()


def select_locale() -> str:
    if not has_request_context():  # a job, the CLI or a bus handler drawing a document: nobody chose a language
        return DEFAULT_LANGUAGE
    chosen = session.get(LANG_KEY)
    if chosen in LANGUAGES:
        return chosen
    return DEFAULT_LANGUAGE  # the platform speaks Chinese unless a user switches: no Accept-Language guessing


def current_language() -> str:
    from flask import g
    from flask_babel import get_locale

    if has_request_context() and "page_language" in g:  # asked for every label of a list page's rows
        return g.page_language
    locale = get_locale()
    language = locale.language if locale is not None and locale.language in LANGUAGES else DEFAULT_LANGUAGE
    if has_request_context():
        g.page_language = language  # Flask-Babel keeps the request's locale once chosen, too
    return language


def compile_catalogues(target: Path) -> Path:
    """Compile every .po under SOURCE_DIR into `target` (same layout) when the .mo is missing or older."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po_path in SOURCE_DIR.glob("*/LC_MESSAGES/*.po"):
        mo_path = target / po_path.relative_to(SOURCE_DIR).with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        with po_path.open("rb") as fh:
            catalog = read_po(fh, locale=po_path.parts[-3])
        tmp = mo_path.with_name(f"{mo_path.name}.{os.getpid()}.tmp")  # workers starting together: one file each
        with tmp.open("wb") as fh:
            write_mo(fh, catalog)  # fuzzy entries are left out, as msgfmt does
        tmp.replace(mo_path)
    return target


def init_i18n(app: Flask) -> None:
    compiled = compile_catalogues(Path(app.instance_path) / "translations")
    app.config["BABEL_DEFAULT_LOCALE"] = DEFAULT_LANGUAGE
    app.config["BABEL_DEFAULT_TIMEZONE"] = "Asia/Shanghai"
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(compiled)
    babel.init_app(app, locale_selector=select_locale)

    @app.context_processor
    def _language():
        return {"current_language": current_language(), "languages": LANGUAGES}

    @app.get("/lang/<code>")
    def set_language(code: str):
        from flask import redirect

        from app.web.login import _safe_next

        if code in LANGUAGES:
            session[LANG_KEY] = code
        return redirect(_safe_next(request.args.get("next")) or "/")
