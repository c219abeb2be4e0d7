"""现场踏勘 over the API (issue 17): the record of a site inspection of a case suspended for one, with its photos.

POST /api/v1/cases/<no>/inspections (multipart: `inspectors` repeated or comma-separated, `inspected_at`, `place`,
`findings`, `conclusion`, `resume`, and a file part `photos` per photograph) → 201; GET …/inspections lists the
records; GET …/inspections/photos/<id> gives a photograph to whoever sees the case. The rules are
delegation/inspections.py's: bad input names its field (422), a case not suspended for a site inspection 409, an
organisation that does not hold the case 403."""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from app.api.schemas import Instant, StrictSchema, Text
from app.auth import current_actor
from app.extensions import db
from delegation import inspections
from delegation.inspection_models import CONCLUSIONS

blp = Blueprint("inspections", __name__, description="现场踏勘 / site inspections")


class InspectionForm(StrictSchema):
    inspectors = fields.List(Text(max_length=inspections.INSPECTOR_MAX * inspections.MAX_INSPECTORS),
                             load_default=list, metadata={"description": "staff who went (names), ≥ 1"})
    inspected_at = Text(load_default="", max_length=40, metadata={"description": "when (ISO, Beijing if no zone)"})
    place = Text(load_default="", max_length=inspections.PLACE_MAX + 50)
    findings = Text(load_default="", max_length=inspections.FINDINGS_MAX + 50)
    conclusion = Text(load_default="", max_length=20, metadata={"description": " | ".join(CONCLUSIONS)})
    resume = fields.Boolean(load_default=False, metadata={"description": "end the suspension in the same step"})


class InspectionFiles(Schema):
    photos = fields.List(fields.Raw(metadata={"type": "string", "format": "binary"}), load_default=list,
                         metadata={"description": f"PNG or JPEG, at most {inspections.MAX_PHOTOS}"})


class PhotoOut(Schema):
    id = fields.Integer()
    name = fields.String()
    media_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String()


class InspectionOut(Schema):
    ref = fields.String()
    org = fields.String()
    inspectors = fields.List(fields.String())
    inspected_at = Instant()
    place = fields.String()
    findings = fields.String()
    conclusion = fields.String()
    conclusion_zh = fields.String()
    recorded_by = fields.String()
    recorded_at = Instant()
    photos = fields.List(fields.Nested(PhotoOut))


@blp.route("/<case_no>/inspections", methods=["POST"])
@blp.arguments(InspectionForm, location="form")
@blp.arguments(InspectionFiles, location="files")
@blp.response(201, InspectionOut)
def create(form, files, case_no):
    photos = [inspections.Photo(f.filename or "", f.mimetype, f.stream) for f in files["photos"]]
    record = inspections.record(current_actor(), case_no, inspectors=form["inspectors"],
                                inspected_at=form["inspected_at"], place=form["place"], findings=form["findings"],
                                conclusion=form["conclusion"], photos=photos, resume=form["resume"])
    db.session.commit()
    return inspections.view(record)


@blp.route("/<case_no>/inspections", methods=["GET"])
@blp.response(200, InspectionOut(many=True))
def index(case_no):
    return [inspections.view(r) for r in inspections.for_case_no(current_actor(), case_no)]


@blp.route("/<case_no>/inspections/photos/<int:photo_id>", methods=["GET"])
@blp.response(200)
def photo(case_no, photo_id):
    from app.web.case_page import _blob_path, _file_response

    record = inspections.photo(current_actor(), case_no, photo_id)
    return _file_response(record, _blob_path(record))
