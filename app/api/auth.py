from __future__ import annotations

from flask_smorest import Blueprint

from app.api.schemas import TokenRequest, TokenResponse
from app.auth import authenticate, issue_token

blp = Blueprint("auth", __name__, description="登录与令牌 / tokens")


@blp.post("/token")
@blp.arguments(TokenRequest)
@blp.response(200, TokenResponse)
@blp.doc(security=[])
def token(data):
    """Exchange a username and password for a bearer token (valid 12 hours)."""
    user = authenticate(data["username"], data["password"])
    return {"token": issue_token(user), "username": user.username, "role": user.role, "org": user.org.code}
