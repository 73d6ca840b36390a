"""Benchmarks of deployed models: cold-start and full-graph inference latency of teacher vs student.

`measure_speed` times a run's teacher GNN (with its neighbourhood gathering) against its graph-free
student; `gather_neighbourhood` is the teacher's per-request graph work (exact or fan-out sampled).
"""

from g2m.bench.neighbourhood import Neighbourhood, gather_neighbourhood
from g2m.bench.runs import RunModels, load_run
from g2m.bench.speed import measure_speed, summary_rows

__all__ = ["measure_speed", "summary_rows", "load_run", "RunModels", "gather_neighbourhood", "Neighbourhood"]
