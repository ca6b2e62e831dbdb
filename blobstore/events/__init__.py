"""Events: outbox messages, and the relay that publishes them to Kafka exactly once."""
