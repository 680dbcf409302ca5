"""Entry point: `uvicorn main:app`, or `python main.py` to start from Settings."""

from app.factory import create_app
from app.server import parse_args, serve

app = create_app()

if __name__ == "__main__":
    parse_args()
    serve()
