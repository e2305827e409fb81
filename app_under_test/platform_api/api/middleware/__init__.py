"""Request middleware: telemetry, access logs, authentication, validation and error rendering."""
