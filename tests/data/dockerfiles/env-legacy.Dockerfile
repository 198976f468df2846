FROM ghcr.io/freebsd/freebsd-runtime:14.3
ENV PATH /usr/local/app/bin:$PATH
ENV MY_NAME="John Doe" MY_DOG=Rex\ The\ Dog \
    MY_CAT=fluffy
ENV GREETING Hello "World"
ENV EMPTY=""
ENV COPY_OF_NAME=${MY_NAME} WITH_DEFAULT=${UNSET:-fallback} ALT=${MY_DOG:+has-dog}
