"""The unit of work of a page, as the API has one: what a form posts runs in one transaction, committed once on
success and rolled back on a DomainError. The error is then put where the user looks for it: on the form field the
error's `field` names, through the form's one field map (domain field → form field), or at the top of the page
when no field of the form matches. The map is written once, on the form class as `field_map` (a domain field
named as the form's field needs no entry). The route re-renders the same page with the user's input kept:

    with page_unit(form) as unit:
        service(...)
    if unit.failed:
        return render(form), unit.status

Only an Invalid lands on a field (bad input names the field); a Conflict, Forbidden or NotFound concerns the
action, and is said on the page even when it carries a field name."""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from flask import flash

from app.web.common import domain_message
from delegation.errors import DomainError, Invalid
from persistence import db


class PageUnit:
    """What one unit of work ended with: `error` is the DomainError that rolled it back (None: committed)."""

    def __init__(self, form, fields: Mapping[str, str], page_level: str | Callable[[str], None] | None):
        self.form, self.fields, self.page_level = form, fields, page_level
        self.error: DomainError | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def status(self) -> int:
        return getattr(self.error, "status", 400) or 400

    def field_for(self, domain_field: str | None):
        """The form field a domain field names through the map (or under its own name); None when the form has
        no such field."""
        if self.form is None or not domain_field or domain_field == "csrf_token":  # never the form's own token
            return None
        try:
            return self.form[self.fields.get(domain_field, domain_field)]
        except KeyError:
            return None

    def attach(self, exc: DomainError) -> None:
        message = domain_message(exc)
        target = self.field_for(exc.field) if isinstance(exc, Invalid) else None
        if target is not None:
            target.errors = [*target.errors, message]
        elif self.page_level is None:
            return  # the route says it itself (unit.error)
        elif callable(self.page_level):
            self.page_level(message)
        elif self.page_level == "form" and self.form is not None:
            self.form.form_errors.append(message)
        else:
            flash(message, "error")


@contextmanager
def page_unit(form=None, fields: Mapping[str, str] | None = None, *,
              page_level: str | Callable[[str], None] | None = "flash") -> Iterator[PageUnit]:
    """One transaction for what the block does. `fields`: the field map, when not the form's own `field_map`.
    page_level says where an error no field takes goes: "flash" (the
    page's message bar), "form" (the form's own errors), a callable given the message, or None (the route reads
    unit.error and says it its own way)."""
    if fields is None:
        fields = getattr(form, "field_map", None)
    unit = PageUnit(form, fields or {}, page_level)
    try:
        yield unit
    except DomainError as exc:
        db.session.rollback()
        unit.error = exc
        unit.attach(exc)
        return
    except BaseException:
        db.session.rollback()  # nothing half-done stays in the session for the error page to flush
        raise
    db.session.commit()
