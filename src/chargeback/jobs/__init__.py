"""The daily job: its parameters, its outputs in order, the gate against the raw source, notebook entry points."""
