"""Pieces of `python -m hddm.report`: the uncertainty a result records with a metric, and the sweep plots."""
