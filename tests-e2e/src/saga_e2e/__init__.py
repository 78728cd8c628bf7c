"""Helpers for black-box tests of the running saga."""
