"""Elastic-net GLMs: IRLS with coordinate descent, paths and cross-validation."""
