"""The token factory's Hydra launcher for Ray: ``hydra/launcher=ray hydra.launcher.address=HOST:PORT``
submits a sweep's jobs to a running Ray cluster through Ray's own API (see ``ray_launcher.py``)."""
