"""Benchmark harness: `python -m bench.run [--quick]` measures the service, its stage limit, a
naive baseline and a LitServe peer on one locally generated workload, and writes
bench/results/latest.json, bench/results/throughput.png and docs/benchmarks.md."""
