"""The REST API (flask-smorest), its OpenAPI document and Swagger UI served from the app's own files."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, request, send_from_directory
from flask_smorest import Api

api = Api()


def _swagger_dir() -> Path:
    import swagger_ui_bundle

    return Path(swagger_ui_bundle.swagger_ui_path)


swagger_static = Blueprint("swagger_static", __name__)


@swagger_static.get("/api/v1/_swagger/<path:filename>")
def swagger_file(filename):
    # The machines that run this platform have no internet: Swagger UI comes from the installed package.
    return send_from_directory(_swagger_dir(), filename, max_age=86400)


def _staff_only():
    """Every staff endpoint asks for the bearer token before it reads its arguments: an anonymous request is
    answered 401 whatever its body, and nothing of it is parsed or validated (no attack surface, no oracle)."""
    from app.auth import current_actor

    current_actor()


def init_api(app):
    app.config.update(
        API_TITLE="Tongquan 同权 API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="/api/v1/_swagger/",
        API_SPEC_OPTIONS={
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
            "info": {"description": "市县同权审批平台接口。Errors are application/problem+json with a stable `code`."},
        },
    )
    api.init_app(app)
    from app.api import auth, cases, delegations_api, exchange_ops, items, spotchecks_api, supervision_api
    from app.api import public_api, stats_api

    staff = {m.blp.name for m in (items, cases, exchange_ops, supervision_api, spotchecks_api, delegations_api,
                                  stats_api)}
    from app.api import licences_api  # electronic licences (issue 16)

    staff.add(licences_api.blp.name)
    from app.api import reminders_api  # 催办 (issue 15)

    staff.add(reminders_api.blp.name)
    from app.api import mailing_api  # 材料邮寄 (issue 19)

    staff.add(mailing_api.blp.name)
    from app.api import assignment_api  # 领取/分派 (issue 15)

    staff.add(assignment_api.blp.name)
    from app.api import transfer_api  # 转办 (issue 15)

    staff.add(transfer_api.blp.name)
    from app.api import credit_api  # 信用记录撤销, 帮办人员 (issue 17)

    staff.add(credit_api.blp.name)
    from app.api import inspections_api  # 现场踏勘 (issue 17)

    staff.add(inspections_api.blp.name)
    from app.api import accountability_api  # 问责 (issue 17)

    staff.add(accountability_api.blp.name)
    from app.api import citywide_api  # 全市通办 (issue 17)

    staff.add(citywide_api.blp.name)
    from app.api import window_decisions_api  # 告知承诺, 即办件, 备案 (issue 17)

    staff.add(window_decisions_api.blp.name)
    app.before_request(lambda: _staff_only() if request.blueprint in staff else None)
    api.register_blueprint(auth.blp, url_prefix="/api/v1/auth")
    api.register_blueprint(items.blp, url_prefix="/api/v1/items")
    api.register_blueprint(cases.blp, url_prefix="/api/v1/cases")
    api.register_blueprint(exchange_ops.blp, url_prefix="/api/v1/exchange")
    api.register_blueprint(supervision_api.blp, url_prefix="/api/v1/supervision")
    api.register_blueprint(spotchecks_api.blp, url_prefix="/api/v1/spot-checks")
    api.register_blueprint(delegations_api.blp, url_prefix="/api/v1/delegations")
    api.register_blueprint(stats_api.blp, url_prefix="/api/v1/stats")
    api.register_blueprint(public_api.blp, url_prefix="/api/v1/public")
    api.register_blueprint(licences_api.blp, url_prefix="/api/v1/licences")
    api.register_blueprint(mailing_api.blp, url_prefix="/api/v1/cases")
    api.register_blueprint(reminders_api.blp, url_prefix="/api/v1/cases")
    api.register_blueprint(assignment_api.blp, url_prefix="/api/v1/cases")
    api.register_blueprint(transfer_api.blp, url_prefix="/api/v1/cases")
    api.register_blueprint(credit_api.blp, url_prefix="/api/v1/credit")
    api.register_blueprint(inspections_api.blp, url_prefix="/api/v1/cases")
    api.register_blueprint(accountability_api.blp, url_prefix="/api/v1/accountability")
    api.register_blueprint(citywide_api.blp, url_prefix="/api/v1/citywide")
    api.register_blueprint(window_decisions_api.blp, url_prefix="/api/v1/window-decisions")
    app.register_blueprint(swagger_static)
