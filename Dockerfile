# Images of the face platform, built in stages (docker compose builds the targets it needs):
#   build  Python packages in /venv, model files fetched and verified, translations compiled
#   app    the web and studio worker image: no compilers, runs as the unprivileged user `face`
#   nginx  Debian's Nginx with the rendered config, the static files and a self-signed
#          certificate made at first start (mount a real one over /etc/face-tls)
# GPU hosts: build with --build-arg GPU=1 (docker-compose.gpu.yml does): CUDA builds of torch,
# TensorFlow and ONNX Runtime from requirements-gpu.txt replace the CPU ones.

FROM python:3.11-slim-bookworm AS build
ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 MODEL_DIR=/srv/models
RUN python -m venv /venv
ENV PATH=/venv/bin:$PATH
WORKDIR /app
COPY requirements.txt requirements-gpu.txt ./
# torch comes from PyTorch's CPU index so the CPU image does not pull CUDA.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ARG GPU=0
RUN pip install ${TORCH_INDEX:+--extra-index-url $TORCH_INDEX} -r requirements.txt \
 && if [ "$GPU" = "1" ]; then \
      pip uninstall -y tensorflow-cpu onnxruntime torch \
      && pip install -r requirements-gpu.txt; \
    fi
COPY models.lock ./
COPY ml ./ml
RUN python -m ml.fetch --model-dir "$MODEL_DIR"
COPY . .
RUN pybabel compile -d translations

FROM python:3.11-slim-bookworm AS app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/venv/bin:$PATH \
    INSTANCE_PATH=/data MODEL_DIR=/srv/models MEDIA_DIR=/data/media BIND=0.0.0.0:8000 \
    MODEL_CACHE_DIR=/data/cache
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 espeak-ng fonts-nanum \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home /app face \
 && mkdir -p /data/media && chown -R face:face /data
COPY --from=build /venv /venv
COPY --from=build /srv/models /srv/models
COPY --from=build --chown=root:root /app /app
WORKDIR /app
USER face
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=120s \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
ENTRYPOINT ["scripts/entrypoint.sh"]
CMD ["web"]

FROM debian:bookworm-slim AS nginx
RUN apt-get update \
 && apt-get install -y --no-install-recommends nginx gettext-base openssl \
 && rm -rf /var/lib/apt/lists/* \
 && ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log
WORKDIR /app
COPY --from=build /app/static /app/static
COPY nginx /app/nginx
COPY scripts/nginx.sh scripts/entrypoint.sh /app/scripts/
ENV NGINX_HTTP_PORT=80 NGINX_HTTPS_PORT=443 HTTPS_REDIRECT_PORT= NGINX_USER=www-data \
    WEB_UPSTREAMS="server web:8000;" STATIC_ROOT=/app/static MEDIA_ROOT=/data/media \
    NGINX_RUN_DIR=/var/lib/nginx/face NGINX_LOG_DIR=/var/log/nginx \
    TLS_CERT=/etc/face-tls/cert.pem TLS_KEY=/etc/face-tls/key.pem
EXPOSE 80 443
HEALTHCHECK --interval=15s --timeout=3s CMD test -s /var/lib/nginx/face/nginx.pid
ENTRYPOINT ["scripts/entrypoint.sh"]
CMD ["nginx"]
