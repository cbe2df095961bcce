"""Style mixing and toonify: a differentiable torch MobileStyleGAN, projection, mixing, looks.

Torch's OpenMP threads must sleep while they wait on a shared CPU (~10x faster under
contention): `OMP_WAIT_POLICY=PASSIVE` is set where each process starts (wsgi.py,
tests/conftest.py, bench/common.py), not here, so it does not depend on what is imported first.
"""
