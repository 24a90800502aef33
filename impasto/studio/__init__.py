"""`impasto studio`: a local web page where a director compares looks (FastAPI app in `app.create_app`)."""
