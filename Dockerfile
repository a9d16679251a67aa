FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 FLEETMON_DATA_DIR=/var/lib/fleetmon
WORKDIR /app
COPY pyproject.toml README.md ./
COPY fleetmon_project fleetmon_project
COPY monitors monitors
COPY telemetry telemetry
COPY notifications notifications
COPY manage.py ./
RUN pip install --no-cache-dir . flower && python manage.py collectstatic --noinput
EXPOSE 8000
CMD ["gunicorn", "fleetmon_project.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4", "--threads", "4", "--keep-alive", "75"]
