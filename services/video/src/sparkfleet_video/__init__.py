"""sparkfleet video endpoint: analyses videos through the host's vLLM and serves the dashboard."""

# The one place the version is written: the wheel's metadata (hatch), /health and the host's state read it.
# Bump it with every change to the package: hosts install by version and restart only when it changes.
__version__ = "1.4.0"
