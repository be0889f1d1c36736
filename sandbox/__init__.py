"""Isolated execution of model-written code (bubblewrap and Docker backends).

Not built yet: see issue 5. Nothing in assay runs model-written code until it lands.
"""
