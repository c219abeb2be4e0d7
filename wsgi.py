"""Entry point for `flask --app wsgi` and for WSGI servers (gunicorn wsgi:app)."""
from app import create_app

app = create_app()
