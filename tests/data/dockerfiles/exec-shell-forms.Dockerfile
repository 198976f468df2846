FROM ghcr.io/freebsd/freebsd-runtime:14.3
SHELL ["/bin/sh", "-ec"]
RUN ["/bin/echo", "exec form"]
RUN echo shell form
# single quotes are not JSON: this is the shell form
RUN ['echo', 'not json']
# valid JSON with trailing text still counts as exec form
CMD ["sleep", "infinity"] trailing
ENTRYPOINT /usr/local/bin/entry.sh --flag "$HOME"
