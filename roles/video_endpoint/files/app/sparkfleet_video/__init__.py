"""sparkfleet video endpoint: analyses videos through the host's vLLM and serves the dashboard."""

__version__ = "1.0.0"
