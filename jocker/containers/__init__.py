"""Containers: creation, the supervisor, lifecycle, logs, files and views."""
