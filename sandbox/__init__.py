"""Isolated execution of model-written code: ``Sandbox(backend).run(cmd, files, stdin, limits)``.

Covered (bubblewrap backend, the default on Linux; details in ``bwrap_backend``):
- new user/pid/net/ipc/uts/cgroup namespaces per run; no network unless ``Limits.network``
  (loopback inside the sandbox works); no capabilities; no further user namespaces;
- the host is visible only as a read-only runtime (/usr, the /lib* links, assay's Python,
  /etc/ld.so.cache, /etc/alternatives, /etc/localtime); no home directories, repository, host environment or host /proc;
  private size-capped tmpfs for /work (the cwd), /tmp and /dev/shm;
- caps on wall time (the whole process tree), CPU time (*per process*: RLIMIT_CPU in whole
  seconds, so a tree of processes can use more in total, up to ``wall_s``), memory (memory
  cgroup, OOM recorded), processes+threads (pids cgroup) and output (per stream, the run is
  killed at the cap and flagged). Without cgroup v1 (only allowed for a non-root caller) memory
  and processes fall back to per-process RLIMIT_AS and per-uid RLIMIT_NPROC;
- every process of a run is dead and its cgroups removed before ``run`` returns;
- sessions (one sandbox across calls; ``ro_mounts`` shows host directories read-only in them,
  e.g. a prepared repository snapshot) and pools (warm sandboxes that fork a fresh child per
  program, same isolation between programs) for throughput;
- Docker as a second backend (``docker_backend``) for images such as SWE-bench's.

Not covered: kernel exploits or side channels; CPU time summed over a process tree (bounded by
``wall_s``); disk I/O bandwidth; a distinct host uid per run (as root, the program is uid 0
outside its user namespace but holds no capabilities and sees only read-only host mounts).
Input errors (NUL bytes, absolute or '..' paths, bad types, absurd limits) raise ``ValueError``.
If no backend works, ``SandboxUnavailable`` says how to fix it: code never runs unsandboxed.
"""

from assay.sandbox.backend import Backend, SandboxUnavailable, Session
from assay.sandbox.limits import ExecResult, Limits
from assay.sandbox.pool import SandboxPool
from assay.sandbox.sandbox import Sandbox

__all__ = ["Backend", "ExecResult", "Limits", "Sandbox", "SandboxPool", "SandboxUnavailable", "Session"]
