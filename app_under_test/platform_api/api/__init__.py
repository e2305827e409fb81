"""The HTTP API: the Flask application, its middleware and routes."""
