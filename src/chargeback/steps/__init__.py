"""The pure steps from raw usage to attributed, allocated lines: usage, pricing, workloads, attribution, allocation."""
