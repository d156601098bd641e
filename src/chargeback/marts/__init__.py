"""Pure builders of the gold tables analysts query: daily cost and statements, coverage, consumption, job runs."""
