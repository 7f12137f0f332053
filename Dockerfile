# supportbot: one image for the bot (IMAP watchers, scheduler, SMTP, Slack, REST API).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY channels ./channels
COPY core ./core
COPY templates ./templates
COPY kb ./kb
RUN pip install ".[postgres,web,llm,ml]" \
    && useradd --system --uid 10001 --home-dir /data --create-home supportbot

USER supportbot
WORKDIR /data
EXPOSE 8080

# Migrations on start, then the bot. Several replicas may start at once: `db upgrade` takes
# a lock, and mailboxes, the outbox and scheduled actions are leased rows.
CMD ["sh", "-c", "supportbot db upgrade && exec supportbot run"]
