"""Scaling a run out: shards of endpoints on worker processes or a Dask cluster (issue 16).

``--executor local`` (the default) runs the pipeline in this process, as always. With
``processes:N`` or ``dask://HOST:PORT`` this process becomes the coordinator:

- ``shards.py`` splits the run's suppliers into shards so that no host and no supplier
  is ever served by two workers at once (that is why per-host and per-supplier limits
  hold across the cluster);
- ``worker.py`` runs one shard: the same async engine (:class:`~supplyfeed._run.pipeline.
  Runner`) inside a worker, writing into the coordinator's run;
- ``executors.py`` hands the shards to worker processes (``processes:N``) or to a Dask
  scheduler (``dask_executor.py``) and reruns a shard whose worker died;
- ``relay.py`` carries the sink calls of local workers to the coordinator's one writer when
  the sink cannot be shared (SQLite, ``memory://``); PostgreSQL workers connect directly;
- ``coordinator.py`` plugs all of it into the run: the coordinator keeps the ledger, the
  summary and the report, so ``report``, ``resume`` and ``trace`` work unchanged.
"""
