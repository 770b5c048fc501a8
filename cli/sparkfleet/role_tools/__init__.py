"""Programs the roles run on the controller (`python -m sparkfleet.role_tools.NAME`, delegated to localhost)."""
