"""The daemon's GC tuning: freezing again (after a reload) lets go of what an earlier freeze
kept, so frozen objects that became cyclic garbage since are collected (the soak found every
reload keeping the stream connections it had frozen, once they reconnected)."""

from __future__ import annotations

import gc
import weakref

from monitor.gc_tuning import freeze_long_lived


class Connection:
    """Stands for a stream connection: an object in a reference cycle."""

    def __init__(self) -> None:
        self.me = self


def test_a_new_freeze_collects_what_the_last_one_froze_and_is_now_garbage() -> None:
    connection = Connection()
    gone = weakref.ref(connection)
    try:
        freeze_long_lived()  # at a reload the connection is open: frozen
        del connection  # it reconnects: the old one is cyclic garbage
        freeze_long_lived()  # the next reload
        assert gone() is None
    finally:
        gc.unfreeze()


def test_live_objects_stay_frozen() -> None:
    connection = Connection()
    try:
        freeze_long_lived()
        assert gc.get_freeze_count() > 0
        assert not any(obj is connection for obj in gc.get_objects())
    finally:
        gc.unfreeze()
