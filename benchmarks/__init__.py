"""Evaluation: datasets, degradations, metrics, protocols, runner, results store, reports."""
