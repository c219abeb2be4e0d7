"""The lines the system writes on a case's timeline are stored in Chinese; the case page reads each in the page
language (app/web/case_page.SYSTEM_NOTE). A new note in the workflow table without its entry there would stay
Chinese on an English page."""
from __future__ import annotations

from app.web.case_page import SYSTEM_NOTE
from delegation.workflow import TRANSITIONS


def test_every_workflow_note_is_read_in_the_page_language():
    notes = {t.note for t in TRANSITIONS if t.note}
    assert notes, "the workflow table writes no note: this test checks nothing"
    assert notes <= set(SYSTEM_NOTE), sorted(notes - set(SYSTEM_NOTE))
    assert all(str(label) == zh for zh, label in SYSTEM_NOTE.items())  # outside a request: the Chinese itself
