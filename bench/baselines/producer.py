"""The relay's ceiling: a bare confluent-kafka transactional producer, no database.

Sends `--count` messages shaped like file_stored events, `--batch` per Kafka
transaction, and prints the seconds taken as one JSON line.

    python -m bench.baselines.producer --bootstrap HOST:PORT --topic T --count N --batch B
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from datetime import UTC, datetime

from confluent_kafka import KafkaException, Producer


def event_payload(key: str) -> bytes:
    """Build a message of the size and shape of a file_stored event."""
    now = datetime.now(UTC).isoformat()
    payload = {
        "key": key,
        "meta": {"user_id": "anonymous", "tags": ["bench"], "sha256": "0" * 64, "created_at": now},
        "timestamp": now,
        "event_id": str(uuid.uuid4()),
        "event_type": "file_stored",
        "schema_version": 1,
        "size": 4096,
        "content_type": "application/octet-stream",
        "filename": "small.bin",
        "url": f"http://127.0.0.1:8000/files/{key}",
    }
    return json.dumps(payload).encode()


def produce(bootstrap: str, topic: str, count: int, batch: int) -> dict[str, float]:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "transactional.id": f"bench-{uuid.uuid4().hex}"}
    )
    producer.init_transactions(30)
    keys = [str(uuid.uuid4()) for _ in range(count)]
    messages = [event_payload(key) for key in keys]

    started = time.perf_counter()
    for first in range(0, count, batch):
        producer.begin_transaction()
        for index in range(first, min(first + batch, count)):
            while True:
                try:
                    producer.produce(topic, key=keys[index], value=messages[index])
                    break
                except BufferError:
                    producer.poll(0.01)  # The local queue is full; let deliveries drain it.
        try:
            producer.commit_transaction(30)
        except KafkaException as exc:
            raise SystemExit(f"commit_transaction failed: {exc}") from exc
    seconds = time.perf_counter() - started
    return {"events": count, "seconds": seconds, "events_per_second": count / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.baselines.producer")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000, help="messages per transaction")
    args = parser.parse_args()
    print(json.dumps(produce(args.bootstrap, args.topic, args.count, args.batch)))


if __name__ == "__main__":
    main()
