"""Expert-data alignment diagnostics (paper 002): one module per analysis, run by `python -m hddm.analyze`."""
