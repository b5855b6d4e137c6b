"""Dated data tables shipped with the harness (quotas, prices)."""
