# escape=`

# Backtick escape: backslashes are ordinary characters here
FROM ghcr.io/freebsd/freebsd-runtime:14.3
ENV WINPATH=C:\Tools\bin `
    GREETING="say `"hi`""
RUN printf "%s\n" one two `
    three > /tmp/lines
COPY conf\app.conf /usr/local/etc/app.conf
CMD echo \done
