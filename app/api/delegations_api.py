"""API blueprint 'delegations' (being built in this session)."""
from flask_smorest import Blueprint

blp = Blueprint("delegations", __name__)
