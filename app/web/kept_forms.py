"""Post/redirect/get for the desks' forms: a refused form's input and errors are kept on the server (the user's
drafts folder, delegation.drafts) and the user is sent back to the page's own address, opened at the error summary;
the GET shows the form as it was posted, once (a reload shows the clean page). Without it the page was drawn at the
form's POST address, which a reload or a copied link answered with 405."""
from __future__ import annotations

from flask import current_app, redirect, request, session, url_for
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from delegation import drafts, limits

SESSION_KEY = "kept_form"
PAIRS_MAX = 200  # more than any desk form has inputs


def bounded_pairs(pairs, names=None) -> list[list[str]]:
    """What a refused form keeps of its posted (name, value) pairs: those named in `names` (when given), at most
    PAIRS_MAX, each value cut at limits.TEXT_MAX (any one string a request may carry): one post cannot fill the
    drafts folder."""
    kept = [[k, v[:limits.TEXT_MAX]] for k, v in pairs if names is None or k in names]
    return kept[:PAIRS_MAX]


def errors_of(form) -> dict:
    """A refused form's errors as a stash keeps them: by field name, and the form's own."""
    return {"errors": {f.name: [str(e) for e in f.errors] for f in form if f.errors},
            "form_errors": [str(e) for e in form.form_errors]}


def restore_errors(form, content: dict):
    """Put the stashed errors back on the rebuilt form; the form."""
    for field in form:
        field.errors = list(content["errors"].get(field.name, []))
    form.form_errors = list(content.get("form_errors", []))
    return form


def replace_stash(key: str, content: dict) -> None:
    """Hold `content` under the session's `key`, dropping the stash it held before (a refused form not followed to
    its page would otherwise stay until the drafts sweep)."""
    owner = current_user.user.id
    drafts.take(drafts_root(), owner, session.get(key))
    session[key] = drafts.stash(drafts_root(), owner, content)


def drafts_root():
    return current_app.config["TONGQUAN"].instance_path / "drafts"


def back_to(endpoint: str, name: str, form, **view_args):
    """After a refused form `name`: keep what was typed and its errors, and redirect (303) to the page."""
    fields = {f.name for f in form if f.type != "CSRFTokenField"}
    content = {"endpoint": endpoint, "view_args": view_args, "form": name,
               "data": bounded_pairs(request.form.items(multi=True), fields), **errors_of(form)}
    replace_stash(SESSION_KEY, content)
    return redirect(url_for(endpoint, **view_args, _anchor="error-summary"), 303)


def kept_form(endpoint: str, classes: dict, prefixed: bool = True, **view_args) -> dict:
    """The refused form of this page, rebuilt as it was posted (its fields named with the form's name as prefix when
    `prefixed`) with its errors, as {name: form}; {} when there is none (taken once: any other page drops it)."""
    token = session.pop(SESSION_KEY, None)
    if token is None:
        return {}
    content = drafts.take(drafts_root(), current_user.user.id, token)
    if not content or content.get("endpoint") != endpoint or content.get("view_args") != view_args \
            or content.get("form") not in classes:
        return {}
    name = content["form"]
    formdata = MultiDict([tuple(pair) for pair in content["data"]])
    form = classes[name](formdata=formdata, prefix=name) if prefixed else classes[name](formdata=formdata)
    return {name: restore_errors(form, content)}
