"""The original file service's upload path, rebuilt as a baseline for large uploads.

It does what that design did on every upload: read the whole body into
memory, hash it with sha256 and BLAKE3, write it to its sharded path, and
flush a Kafka producer before it sends the response. Hashing and writing run on the event
loop, as they did there. Unlike blobstore it writes no index row and does not
fsync, which only makes this baseline faster than the real thing was.

    python -m bench.baselines.original --port P --dir D --kafka HOST:PORT --topic T
"""

from __future__ import annotations

import argparse
import hashlib
import json
import uuid
from pathlib import Path

import uvicorn
from blake3 import blake3
from confluent_kafka import Producer
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def create_app(base: Path, bootstrap: str, topic: str) -> Starlette:
    producer = Producer({"bootstrap.servers": bootstrap})

    async def upload(request: Request) -> JSONResponse:
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            form = await request.form()
            field = form["file"]
            if not isinstance(field, UploadFile):
                return JSONResponse({"error": "file is not a file part"}, status_code=400)
            data = await field.read()
            filename = field.filename or "upload"
        else:
            data = await request.body()
            filename = request.query_params.get("filename", "upload")

        sha256 = hashlib.sha256(data).hexdigest()
        blake3_hex = blake3(data).hexdigest()
        path = base / sha256[:2] / sha256[2:4] / sha256
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

        key = str(uuid.uuid4())
        event = {"key": key, "meta": {"sha256": sha256, "filename": filename}}
        producer.produce(topic, key=key, value=json.dumps(event))
        producer.flush()

        body = {"key": key, "sha256": sha256, "blake3": blake3_hex, "size": len(data)}
        return JSONResponse(body, status_code=201)

    return Starlette(routes=[Route("/files", upload, methods=["POST"])])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.baselines.original")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True, help="where uploads are stored")
    parser.add_argument("--kafka", required=True, help="Kafka bootstrap servers")
    parser.add_argument("--topic", required=True)
    args = parser.parse_args()

    args.dir.mkdir(parents=True, exist_ok=True)
    app = create_app(args.dir, args.kafka, args.topic)
    # The same server settings as `blobstore serve`, so only the upload path differs.
    uvicorn.run(
        app, host="127.0.0.1", port=args.port, loop="uvloop", http="httptools", log_level="warning"
    )


if __name__ == "__main__":
    main()
