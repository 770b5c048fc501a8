"""The markdown report of a run: read the records (inputs), render sections, draw charts."""
