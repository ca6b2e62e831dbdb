"""Deduplication: the same bytes uploaded twice, time and bytes written each time.

Bytes written are the blobstore process's write_bytes minus
cancelled_write_bytes from /proc/PID/io: pages it dirtied for storage, less
those dropped because their file was deleted before write-back. PostgreSQL's
own writes happen in its processes and are not counted.
"""

from __future__ import annotations

from bench.context import Context, make_unique
from bench.progress import step
from bench.record import Row, ScenarioResult, Series
from bench.stats import MEBIBYTE, size_label
from bench.uploads import measure_upload, remove_blob

# "Near zero": the second upload may write at most this share of the file.
MAX_SECOND_WRITE_SHARE = 0.01


def run(ctx: Context) -> ScenarioResult:
    result = ScenarioResult("dedup", "Deduplication")
    size = ctx.options.dedup_size
    label = size_label(size)
    server = ctx.stack.blobstore()
    source = ctx.source_file(f"dedup-{size}.bin", size)

    first_time, second_time = Series("first upload", "s"), Series("second upload", "s")
    first_written = Series("first upload", "MiB")
    second_written = Series("second upload", "MiB")
    for rep in range(ctx.options.repeat):
        make_unique(source)
        first = measure_upload(server, source, "raw")
        second = measure_upload(server, source, "raw")
        if first.response["deduplicated"] or not second.response["deduplicated"]:
            raise RuntimeError("the second upload of the same bytes was not deduplicated")
        remove_blob(ctx.stack.blob_dir, first.response["sha256"])

        first_time.samples.append(first.seconds)
        second_time.samples.append(second.seconds)
        first_written.samples.append(first.bytes_written / MEBIBYTE)
        second_written.samples.append(second.bytes_written / MEBIBYTE)
        step(
            f"dedup {label} {rep + 1}/{ctx.options.repeat}: {first.seconds:.2f} s then "
            f"{second.seconds:.2f} s, {second.bytes_written / MEBIBYTE:.0f} MiB written again"
        )

    result.rows += [
        Row(f"{label} uploaded again: time", second_time, first_time),
        Row(
            f"{label} uploaded again: bytes written",
            second_written,
            first_written,
            max_value=size * MAX_SECOND_WRITE_SHARE / MEBIBYTE,
        ),
    ]
    return result
