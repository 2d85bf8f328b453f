"""Probe kinds. Each module defines a config model (a TargetBase subclass) and a Check."""
