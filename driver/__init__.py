"""cyclecast analysis driver: Dakota parameters file in, simulator run, Dakota results file out.

Kept free of heavy imports so that one evaluation's overhead stays in milliseconds.
"""
