-- pgbench script: the database work of one small upload, as blobstore does it
-- for new content (see blobstore/db/repository.py): insert the blob row, lock
-- it, insert the file row and the outbox row, in one transaction.
-- Run as: pgbench -n -M prepared -f upload_transaction.sql
\set a random(1, 9223372036854775806)
\set b random(1, 9223372036854775806)
BEGIN;
INSERT INTO blobs (sha256, blake3, size, created_at)
VALUES (lpad(to_hex(:a::bigint), 32, '0') || lpad(to_hex(:b::bigint), 32, '0'),
        lpad(to_hex(:b::bigint), 32, '0') || lpad(to_hex(:a::bigint), 32, '0'), 4096, now())
ON CONFLICT (sha256) DO NOTHING;
SELECT sha256 FROM blobs
WHERE sha256 = lpad(to_hex(:a::bigint), 32, '0') || lpad(to_hex(:b::bigint), 32, '0')
FOR UPDATE;
INSERT INTO files (key, sha256, user_id, filename, content_type, size, created_at)
VALUES ((lpad(to_hex(:a::bigint), 16, '0') || lpad(to_hex(:b::bigint), 16, '0'))::uuid,
        lpad(to_hex(:a::bigint), 32, '0') || lpad(to_hex(:b::bigint), 32, '0'),
        'anonymous', 'small.bin', 'application/octet-stream', 4096, now());
INSERT INTO outbox (event_id, event_type, topic, message_key, payload, created_at)
VALUES (gen_random_uuid(), 'file_stored', 'file_stored',
        (lpad(to_hex(:a::bigint), 16, '0') || lpad(to_hex(:b::bigint), 16, '0'))::uuid::text,
        jsonb_build_object(
            'key', (lpad(to_hex(:a::bigint), 16, '0') || lpad(to_hex(:b::bigint), 16, '0'))::uuid,
            'meta', jsonb_build_object('user_id', 'anonymous', 'tags', '[]'::jsonb,
                'sha256', lpad(to_hex(:a::bigint), 32, '0') || lpad(to_hex(:b::bigint), 32, '0'),
                'created_at', now()),
            'timestamp', now(), 'event_id', gen_random_uuid(), 'event_type', 'file_stored',
            'schema_version', 1, 'size', 4096, 'content_type', 'application/octet-stream',
            'filename', 'small.bin', 'url', 'http://127.0.0.1:8000/files/x'),
        now());
END;
