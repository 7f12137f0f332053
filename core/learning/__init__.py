"""Learned triage: models fitted on a team's own labelled history, and their measurement.

Rules are a weak default; a help desk has thousands of tickets its agents already
classified. `train` fits a CPU-only model from a CSV or the database, `evaluate` measures it
(or the rules, or VADER) on labelled text, and the pipeline uses a stored model through the
small `LabelPredictor` port in core.triage.learned.
"""
