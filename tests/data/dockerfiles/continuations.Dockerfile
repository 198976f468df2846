FROM ghcr.io/freebsd/freebsd-runtime:14.3

# A long RUN with comments and blank lines inside the continuation,
# as found in many real Dockerfiles.
RUN set -eux; \
    # packages needed at build time
    pkg install -y \
        ca_root_nss \
        curl \
        # git is only for the version stamp
        git-lite \
    ; \

    pkg clean -ay; \
    rm -rf /var/cache/pkg/*   

RUN echo hello\
world

LABEL a=1 \
      b=2 \
      # a comment between labels
      c=3

CMD ["/bin/sh"]
