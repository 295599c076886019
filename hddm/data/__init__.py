"""Datasets, partitions (cluster assignment files) and caches."""
