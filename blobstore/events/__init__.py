"""Events: outbox messages now, the Kafka relay that publishes them."""
