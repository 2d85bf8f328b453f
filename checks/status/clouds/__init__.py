"""Parsers of the public cloud health feeds (AWS, Google Cloud, Azure) for `cloud_status`.

Each module exposes `parse(body, *, regions, services) -> StatusReport`: pure, bytes in,
filtered report out; malformed input raises `FeedError`.
"""
