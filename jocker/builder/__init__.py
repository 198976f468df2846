"""Building images from Dockerfiles."""
