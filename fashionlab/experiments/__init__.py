"""Experiments made of many runs: the grammar of axes, plans and their previews, executors (local
processes, Ray), sweeps, searches, and logging to MLflow.
"""
