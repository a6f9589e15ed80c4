"""The face engine: quality gate, liveness, templates, 1:1 match and 1:N search."""
