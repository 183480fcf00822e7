# One image for every service; docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# The pinned dependencies first, in a layer of their own that code changes keep.
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock

COPY pyproject.toml README.md ./
COPY contracts ./contracts
COPY services ./services
RUN pip install --no-cache-dir --no-deps . \
    && useradd --create-home --uid 10001 mentorship

# Numeric, so that the host and Kubernetes' runAsNonRoot can tell it is not root.
USER 10001
EXPOSE 8000 9100
CMD ["python", "-m", "services.gateway"]
