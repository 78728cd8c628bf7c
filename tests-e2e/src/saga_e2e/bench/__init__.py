"""`make bench`: throughput, latency and CPU per saga, batched and one event per transaction.

`python -m saga_e2e.bench [--quick]` runs on its own stack (BENCH_* variables, /tmp/benchstack)
and prints a table, a CSV, a PNG and one `RESULT ...` line; `sustain` holds the rule that says
whether an offered rate was sustained, `step` how one step is measured.
"""
