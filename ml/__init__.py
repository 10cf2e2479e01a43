"""cyclecast surrogate models (training, transfer, sampling, metrics).

Reads Dakota tabular files and study specs only; never imported by the analysis driver.
The models arrive with the surrogate-model issue.
"""
