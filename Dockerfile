FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY server server
COPY models models
COPY media media
COPY recorder recorder
COPY client_web client_web
COPY bench bench
RUN pip install --no-cache-dir -e .
ENV QIHANG_DATA_DIR=/data
EXPOSE 8000
CMD ["qihang", "serve", "--host", "0.0.0.0", "--port", "8000"]
