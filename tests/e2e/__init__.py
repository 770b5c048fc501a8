"""End-to-end helpers that drive the real services (the dashboard through a headless browser)."""
