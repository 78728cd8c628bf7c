"""Chaos suite: load the saga while crashing its processes, then check DESIGN.md §6 invariants."""
