from services.kit.entrypoint import run_service
from services.scheduler.app import create_app

run_service(create_app)
