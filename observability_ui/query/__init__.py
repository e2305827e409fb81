"""Query languages over a dataset: PromQL for metrics, a LogQL subset for logs."""
