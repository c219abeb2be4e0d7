"""API blueprint 'spotchecks' (being built in this session)."""
from flask_smorest import Blueprint

blp = Blueprint("spotchecks", __name__)
