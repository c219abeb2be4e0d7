"""API blueprint 'supervision' (being built in this session)."""
from flask_smorest import Blueprint

blp = Blueprint("supervision", __name__)
