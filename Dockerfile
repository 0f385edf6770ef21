# Gradscape: `docker build -t gradscape .` then `docker run -p 8000:8000 gradscape`.
#
# Exports, two ways (see the README's "Deployment"):
# - one container (the default): `gradscape serve` runs one process per CPU behind port 8000; they share
#   export jobs through a SQLite database and the files in GRADSCAPE_EXPORT_DIR, and each makes one job
#   at a time in a child process capped at GRADSCAPE_EXPORT_MAX_MEMORY_MB. Nothing else to run.
# - replicas: give every container GRADSCAPE_REDIS_URL=redis://redis:6379/0 and the same volume at
#   GRADSCAPE_EXPORT_DIR, and run `gradscape worker` (this image, that command) beside them: jobs go
#   through rq to the workers, and any replica answers any job's status and file.
# Behind a domain name, set GRADSCAPE_TRUSTED_HOSTS to it (the Host header is checked against DNS rebinding).
FROM python:3.11-slim

# One BLAS thread per worker: a network's plane does a few small matrix products, and OpenBLAS's idle
# threads spin on the cores the workers and the plane's own threads need (a 51 x 51 moons plane took
# 0.2 s to 2.6 s under load with them, 0.2 s without).
ENV OPENBLAS_NUM_THREADS=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GRADSCAPE_CACHE_DIR=/var/cache/gradscape \
    NUMBA_CACHE_DIR=/var/cache/gradscape/numba \
    MPLCONFIGDIR=/var/cache/gradscape/matplotlib \
    GRADSCAPE_EXPORT_DIR=/var/lib/gradscape/exports

WORKDIR /app

# One apt package: a font with Chinese glyphs for zh-CN exports (WenQuanYi Micro Hei, 5 MB installed;
# Noto Sans CJK would be 91 MB for the same characters). MP4 export uses the ffmpeg inside the
# imageio-ffmpeg wheel.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*

# The dependencies alone first, so a change to the code does not reinstall them.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Installed in place, so the app finds templates/ and static/ beside its code.
COPY core ./core
COPY app ./app
COPY templates ./templates
COPY static ./static
RUN pip install --no-deps -e . \
    && useradd --system --no-create-home gradscape \
    && mkdir -p "$GRADSCAPE_CACHE_DIR" "$GRADSCAPE_EXPORT_DIR" \
    && chown gradscape "$GRADSCAPE_CACHE_DIR" "$GRADSCAPE_EXPORT_DIR"

# Compile every numba kernel into the image's cache, and build matplotlib's font
# cache, as the user that serves: the first request then waits for neither.
USER gradscape
RUN python -c "import core; core.warm(); import matplotlib.font_manager"

VOLUME /var/lib/gradscape/exports
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/health', timeout=4)"
CMD ["gradscape", "serve", "--host", "0.0.0.0", "--port", "8000"]
