"""The Ray backend: environments and their verifiers run on Ray actors; the trainer drives them.

- :mod:`~assay.trainer.ray_backend.cluster`: connect to a cluster (``address``) or start a local one.
- :mod:`~assay.trainer.ray_backend.env_workers`: :class:`RayEnvRunner`, the ``EnvRunner`` whose
  environments live on ``EnvWorker`` actors: cost-aware placement, hung or killed workers
  replaced, episodes replayed onto the replacement (or dropped, by policy).
- :mod:`~assay.trainer.ray_backend.generators`: ``RayGenerators``, a ``Generator`` whose batches are
  split over ``GeneratorWorker`` actors holding copies of the policy, synced after each update (import
  it from there: env worker processes import this package and should not pay for torch).
- :mod:`~assay.trainer.ray_backend.pipeline`: the asynchronous rollout pipeline (generation of the
  next batches overlaps the update, at most ``max_staleness`` policy versions behind).
- :mod:`~assay.trainer.ray_backend.search`: ``RayScorer``, a search scorer whose batches are split
  over actors (``assay search --backend ray``).

docs/scaling.md says what runs where, which faults are survived, and what was measured.

Ray is imported only when a backend object is built, so ``import assay.trainer`` never needs it.
"""

from assay.trainer.ray_backend.cluster import connect
from assay.trainer.ray_backend.env_workers import RayEnvRunner, WorkerLost
from assay.trainer.ray_backend.placement import CostModel, place

__all__ = ["CostModel", "RayEnvRunner", "WorkerLost", "connect", "place"]
