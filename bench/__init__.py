"""Benchmarks of blobstore against the machine's limits and against peer servers.

Run `python -m bench` for every scenario or `python -m bench SCENARIO` for one;
`python -m bench --help` lists the options. Nothing here runs in CI.
"""
