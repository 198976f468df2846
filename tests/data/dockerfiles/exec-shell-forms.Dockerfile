FROM ghcr.io/freebsd/freebsd-runtime:14.3
SHELL ["/bin/sh", "-ec"]
RUN ["/bin/echo", "exec form"]
RUN echo shell form
# single quotes are not JSON: this is the shell form
RUN ['echo', 'not json']
# text after a JSON array makes it shell form (buildkit parser: the whole line must be the array)
CMD ["sleep", "infinity"] trailing
ENTRYPOINT /usr/local/bin/entry.sh --flag "$HOME"
