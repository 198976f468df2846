#!/bin/sh
# Runs inside the container: show that it is isolated and what it was built with.
echo "$GREETING!"
echo "hostname: $(hostname)"
echo "pid: $$ (PID 1 of its own process namespace or jail)"
cat /app/built
