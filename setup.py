# setup.cfg holds all the metadata; pip needs this file (or a pyproject.toml)
# to recognise the project.
from setuptools import setup

setup()
