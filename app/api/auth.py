from __future__ import annotations

from flask import request
from flask_smorest import Blueprint

from app.api.schemas import TokenRequest, TokenResponse
from app.auth import authenticate, issue_token, require_changed_password

blp = Blueprint("auth", __name__, description="登录与令牌 / tokens")


@blp.post("/token")
@blp.arguments(TokenRequest)
@blp.response(200, TokenResponse)
@blp.doc(security=[])
def token(data):
    """Exchange a username and password for a bearer token (valid 12 hours). Failed attempts are limited per
    account (5, then a 15-minute lock that answers like a wrong password) and per address (429); an initial
    password gets no token until it is changed (403 password_change_required)."""
    user = authenticate(data["username"], data["password"], request.remote_addr)
    require_changed_password(user)
    return {"token": issue_token(user), "username": user.username, "role": user.role, "org": user.org.code}
