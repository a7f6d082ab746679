"""Kernel generators: per-layer sparse kernels for CPUs (cpu.py) and their schedules (schedule.py)."""
