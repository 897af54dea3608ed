"""Sensor simulators for controlcenter: a whole industrial complex on a laptop."""
