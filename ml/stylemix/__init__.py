"""Style mixing and toonify: a differentiable torch MobileStyleGAN, projection, mixing, looks.

OpenMP threads that spin while they wait make torch ~10x slower on a CPU shared with other busy
processes (measured: 1-2 s instead of 0.1 s per 64 px projection step at load 8 on 2 cores), so
they sleep instead unless the environment says otherwise. This only takes effect when torch has
not been imported yet in the process.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
