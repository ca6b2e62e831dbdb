"""The metadata index: tables, engine and the queries the service runs."""
