# Production image: gunicorn serving the Flask app, models fetched and verified at build time.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    INSTANCE_PATH=/data MODEL_DIR=/srv/models BIND=0.0.0.0:8000

RUN apt-get update \
 && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 espeak-ng fonts-nanum \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt requirements.in ./
# torch comes from PyTorch's CPU index so the image does not pull CUDA; use the default
# index (TORCH_INDEX="") for a CUDA image on GPU hosts.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install ${TORCH_INDEX:+--extra-index-url $TORCH_INDEX} -r requirements.txt

COPY models.lock ./
COPY ml ./ml
RUN python -m ml.fetch --model-dir "$MODEL_DIR"

COPY . .
RUN pybabel compile -d translations \
 && useradd --system --home /app face \
 && mkdir -p /data && chown face /data
USER face
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
CMD ["scripts/boot.sh"]
