from services.attendance.app import create_app
from services.kit.entrypoint import run_service

run_service(create_app)
