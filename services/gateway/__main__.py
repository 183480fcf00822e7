"""`python -m services.gateway`: serve the HTTP edge on GATEWAY_PORT."""

import uvicorn

from services.gateway.app import create_app
from services.kit.settings import Settings

settings = Settings()
uvicorn.run(
    create_app(settings),
    host=settings.gateway_host,
    port=settings.gateway_port,
    log_config=None,
    access_log=False,
)
