"""The landing page: what is running, and where the API and its documentation are."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template_string

bp = Blueprint("home", __name__)

PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>同权 · 市县同权审批平台</title>
<style>body{font-family:system-ui,"Noto Sans CJK SC",sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem;
line-height:1.6;color:#1f2937}code{background:#f3f4f6;padding:.1rem .3rem;border-radius:.2rem}</style></head>
<body><h1>同权 · 市县同权审批平台</h1>
<p>节点 <code>{{ node }}</code> 正在运行（{{ env }}）。县级窗口受理，市级审批，监管部门全程监管。</p>
<ul>
<li><a href="{{ url_for('web_login.login') }}">工作人员登录</a> · <a href="{{ url_for('web_dashboard.dashboard') }}">统计分析</a>（管理员、市级人员）</li>
<li><a href="/public/spot-checks">抽查结果公示</a></li>
<li><a href="{{ url_for('api-docs.openapi_swagger_ui') }}">接口文档 (Swagger UI)</a></li>
<li><a href="{{ url_for('api-docs.openapi_json') }}">OpenAPI 描述 /api/v1/openapi.json</a></li>
</ul>
<p lang="en">Tongquan node <code>{{ node }}</code> is running. Staff log in at /login; the statistics dashboard
is at /dashboard. The window, review and regulator desks come with a later release; until then, use the API.</p>
</body></html>"""


@bp.get("/")
def index():
    settings = current_app.config["TONGQUAN"]
    return render_template_string(PAGE, node=settings.node_id, env=settings.env)
