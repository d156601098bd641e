"""What the gold tables say: budget status, cost anomalies, the FOCUS export, alert dry runs, the demo report."""
