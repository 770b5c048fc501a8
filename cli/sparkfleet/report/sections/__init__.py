"""The report's sections, each a pure function of the typed inputs (and what is derived from them) that returns
markdown: header (title, verdict), fleet, verify, bench (with spark_figures), timeline, problems, next_steps, where
(where things are) and data_notes."""
