# Production image: gunicorn serves the app; the same image runs the Celery worker and beat.
FROM python:3.11-slim-bookworm AS assets
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=kpi_platform.settings.production
WORKDIR /app
COPY pyproject.toml ./
RUN pip install --no-cache-dir . && useradd --system --home /app kpi
COPY . .
COPY --from=assets /app/node_modules ./node_modules
RUN SECRET_KEY=build-only ALLOWED_HOSTS=localhost python manage.py collectstatic --no-input --verbosity 0 \
    && mkdir -p var && chown -R kpi var
USER kpi
EXPOSE 8000
CMD ["gunicorn", "kpi_platform.wsgi", "--bind", "0.0.0.0:8000", "--workers", "4", "--access-logfile", "-"]
