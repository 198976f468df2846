FROM ghcr.io/freebsd/freebsd-runtime:14.3

ENV PYTHONDONTWRITEBYTECODE 1
ENV PYTHONUNBUFFERED=1 \
    APP_HOME=/usr/local/app

RUN pkg install -y python311 py311-pip && pkg clean -ay

WORKDIR $APP_HOME
COPY requirements.txt .
RUN python3.11 -m pip install --no-cache-dir -r requirements.txt
COPY . .

RUN pw useradd -n app -u 1001 -d ${APP_HOME} -s /usr/sbin/nologin
USER app

EXPOSE 8000
ENTRYPOINT ["python3.11", "-m", "gunicorn"]
CMD ["--bind", "0.0.0.0:8000", "app:wsgi"]
