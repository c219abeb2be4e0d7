"""Post/redirect/get for the review and city case pages: a refused form's input and errors are kept on the server
(the user's drafts folder, delegation.drafts) and the user is sent back to the case's own address, opened at the
error summary; the GET shows the form as it was posted, once (a reload shows the clean page). Without it the page
was drawn at the form's POST address, which a reload or a copied link answered with 405."""
from __future__ import annotations

from flask import current_app, redirect, request, session, url_for
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from delegation import drafts

SESSION_KEY = "kept_form"


def _root():
    return current_app.config["TONGQUAN"].instance_path / "drafts"


def back_to_case(endpoint: str, case_no: str, name: str, form):
    """After a refused form `name`: keep what was typed and its errors, and redirect (303) to the case page."""
    content = {"endpoint": endpoint, "case_no": case_no, "form": name,
               "data": [[k, v] for k, v in request.form.items(multi=True) if not k.endswith("csrf_token")],
               "errors": {f.name: [str(e) for e in f.errors] for f in form if f.errors},
               "form_errors": [str(e) for e in form.form_errors]}
    session[SESSION_KEY] = drafts.stash(_root(), current_user.user.id, content)
    return redirect(url_for(endpoint, case_no=case_no, _anchor="error-summary"), 303)


def kept_form(endpoint: str, case_no: str, classes: dict) -> dict:
    """The refused form of this page, rebuilt as it was posted with its errors, as {name: form}; {} when there is
    none (taken once: any other page drops it)."""
    token = session.pop(SESSION_KEY, None)
    if token is None:
        return {}
    content = drafts.take(_root(), current_user.user.id, token)
    if not content or content.get("endpoint") != endpoint or content.get("case_no") != case_no \
            or content.get("form") not in classes:
        return {}
    name = content["form"]
    form = classes[name](formdata=MultiDict([tuple(pair) for pair in content["data"]]), prefix=name)
    for field in form:
        field.errors = list(content["errors"].get(field.name, []))
    form.form_errors = list(content.get("form_errors", []))
    return {name: form}
