"""LeanGreenlet: gevent's Greenlet without the spawning stack, otherwise the same."""

from __future__ import annotations

import gevent
from gevent.greenlet import Greenlet

from geventws.runtime.greenlets import LeanGreenlet, spawn


def test_no_spawning_stack_is_kept_but_gevent_keeps_one() -> None:
    lean = spawn(lambda: None, name="geventws-test")
    plain = gevent.spawn(lambda: None)
    gevent.joinall([lean, plain])
    assert lean.spawning_stack is None
    assert plain.spawning_stack is not None  # what it saves: gevent's default records it


def test_it_is_a_greenlet_with_name_value_link_and_kill() -> None:
    done: list[object] = []
    greenlet = spawn(lambda x: x * 2, 21, name="geventws-answer")
    greenlet.link(lambda g: done.append(g.value))
    greenlet.join(5)
    gevent.sleep(0)
    assert isinstance(greenlet, Greenlet) and isinstance(greenlet, LeanGreenlet)
    assert greenlet.name == "geventws-answer" and greenlet.value == 42 and done == [42]
    sleeper = spawn(gevent.sleep, 60, name="geventws-sleeper")
    gevent.sleep(0)
    sleeper.kill(block=True, timeout=5)
    assert sleeper.dead and sleeper.successful()  # GreenletExit: a clean end
