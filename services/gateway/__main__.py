"""`python -m services.gateway`: serve the HTTP edge on GATEWAY_PORT."""

import uvicorn

from services.gateway.app import create_app
from services.kit import heap
from services.kit.logs import get_logger
from services.kit.settings import Settings

settings = Settings()
app = create_app(settings, after_startup=heap.freeze_startup_heap)
url = f"http://{settings.gateway_host}:{settings.gateway_port}"
get_logger("services.gateway").info(
    "gateway listening",
    url=url,
    docs=f"{url}/docs",
    dashboard=f"{url}/dashboard/mentorship/subscribers",
)
uvicorn.run(
    app, host=settings.gateway_host, port=settings.gateway_port, log_config=None, access_log=False
)
