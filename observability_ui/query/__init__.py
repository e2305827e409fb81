"""Query languages over a dataset: a PromQL subset for metrics, a LogQL subset for logs."""
