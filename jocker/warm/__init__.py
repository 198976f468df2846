"""The warm CLI: a fork-server of pre-imported `jocker` processes.

Starting the CLI costs an interpreter start plus the imports of click and
the engine (tens of milliseconds) before `jocker run` does anything. A warm
server in the run directory has done those imports once; an eligible
command (client.py decides) connects to it, and the server forks one child
that runs exactly the click code the local path would run, with the
caller's argv, environment, cwd, umask and descriptors 0, 1, 2. Nothing else
is shared: each command is still its own fresh process that reads the
configuration and takes the engine lock itself ("the CLI is the engine").

The protocol, one connection per command (`<rundir>/warmcli.sock`):
    client -> server  10 ASCII digits (length), a marshal'd dict (argv, env,
                      cwd, umask, process context, interpreter identity,
                      stdio encodings), with fds 0, 1, 2 as SCM_RIGHTS
    server -> client  `fallback REASON` (nothing was started: go local) or
                      `pid N`, later `exit S` (S as os.waitstatus_to_exitcode),
                      written by the child itself as it exits and by the
                      server when it reaps the child (the first one counts;
                      the child's may even come before `pid`: it ran)
    client -> server  `sig N` for each signal the client caught, forwarded
                      to the child
marshal, not json: the client must start in a few milliseconds (json pulls
in re); the peer is the same uid behind a 0600 socket in a root-only
directory, so it is trusted like the caller's own interpreter.
"""
