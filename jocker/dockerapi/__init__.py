"""`jocker serve`: the Docker Engine API on a UNIX socket (or TLS TCP with
client certificates), a front end like the CLI. Requests are parsed and
answered here; every engine call goes through `backend.py`."""
