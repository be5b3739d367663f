FROM python:3.11-slim

RUN useradd --create-home --uid 10001 eventtrigger
WORKDIR /app

# Dependencies first, in their own layer, so a code change reuses it.
COPY pyproject.toml README.md ./
RUN mkdir domain projections api eventtrigger \
    && touch domain/__init__.py projections/__init__.py api/__init__.py \
       eventtrigger/__init__.py scheduler_loop.py retention.py \
    && pip install --no-cache-dir . \
    && pip uninstall --yes eventtrigger

COPY domain ./domain
COPY projections ./projections
COPY api ./api
COPY eventtrigger ./eventtrigger
COPY scheduler_loop.py retention.py ./
RUN pip install --no-cache-dir --no-deps . \
    && mkdir -p /app/var && chown eventtrigger /app/var

ENV EVENTTRIGGER_HOST=0.0.0.0 \
    EVENTTRIGGER_PORT=8000 \
    EVENTTRIGGER_DATA_DIR=/app/var
VOLUME /app/var
USER eventtrigger
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
CMD ["eventtrigger", "serve"]
