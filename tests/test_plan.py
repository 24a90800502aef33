"""The planner on tables of frames, no I/O: what is done, to do (and why), missing or damaged; the tasks in the
order they paint with their dependencies; the units processes take; and what the next features need expressed
(a frame held from two keyframes, a task that is not a frame)."""

from __future__ import annotations

import pytest

from impasto.shot.manifest import FrameEntry
from impasto.shot.plan import (
    DAMAGED,
    Boil,
    FrameFacts,
    Task,
    Unit,
    frame_reason,
    frame_tasks,
    plan_shot,
    ready,
    units,
)

FRAMES = list(range(1001, 1009))
LOOK = "look-a"


def done(look: str = LOOK, **kw) -> FrameEntry:
    return FrameEntry(status="done", look_hash=look, input_hash=kw.pop("input_hash", "p"), **kw)


def settled(**kw) -> FrameFacts:
    """A frame painted with this look whose plate, mattes, dissolve and file all agree."""
    return FrameFacts(entry=done(), output=True, opens=True, input_hash="p", **kw)


def table(**rows: FrameFacts) -> dict[int, FrameFacts]:
    """Facts for every frame of FRAMES: new unless given (keys f1003 = frame 1003)."""
    facts = {n: FrameFacts() for n in FRAMES}
    facts.update({int(k[1:]): v for k, v in rows.items()})
    return facts


def test_every_reason_a_frame_paints_for() -> None:
    assert frame_reason(FrameFacts(), LOOK) == "new"
    assert frame_reason(FrameFacts(output=True), LOOK) == "not in the manifest"
    assert frame_reason(FrameFacts(entry=FrameEntry(status="failed")), LOOK) == "failed before"
    assert frame_reason(FrameFacts(entry=FrameEntry(status="missing")), LOOK) == "plate was missing"
    assert frame_reason(settled(), "look-b") == "look changed"
    assert frame_reason(FrameFacts(entry=done(), output=True, opens=True, input_hash="q"), LOOK) == "plate changed"
    assert frame_reason(settled(mattes={"fg": "m2"}), LOOK) == "matte changed"
    assert frame_reason(settled(dissolve=0.5), LOOK) == "dissolve changed"
    assert frame_reason(FrameFacts(entry=done(), output=True, opens=False, input_hash="p"), LOOK) == DAMAGED
    assert frame_reason(settled(), LOOK) is None


def test_done_todo_missing_and_damaged() -> None:
    facts = table(f1001=settled(), f1002=FrameFacts(entry=done(), output=False, opens=False, input_hash="p"),
                  f1003=FrameFacts(plate=False), f1004=FrameFacts(entry=done(), plate=False, output=True))
    plan = plan_shot(FRAMES, facts, LOOK, started=5.0)
    assert plan.skip == [1001, 1004]  # 1004: painted before its plate frame went, kept
    assert plan.missing == [1003]
    assert plan.todo == [1002, 1005, 1006, 1007, 1008]
    assert plan.damaged == [1002] and plan.reasons[1005] == "new"
    assert plan.started == 5.0 and plan.other_look == []
    assert [t.key for t in plan.tasks] == plan.todo and all(not t.needs for t in plan.tasks)


def test_wanted_frames_and_another_look_anywhere_in_the_version() -> None:
    facts = {n: FrameFacts() for n in (1001, 1002)}
    facts[1007] = FrameFacts(entry=done("look-b"), output=True)  # not asked for, but in the version
    plan = plan_shot(FRAMES, facts, LOOK, wanted=[1002, 1001])
    assert plan.frames == [1001, 1002] and plan.todo == [1001, 1002]
    assert plan.other_look == [1007]


def test_boil_orders_keyframes_first_with_their_dependencies() -> None:
    plan = plan_shot(FRAMES, table(), LOOK, boil=Boil(chunk=3, pull=1, chained=True))
    assert plan.todo == [1001, 1004, 1007, 1002, 1003, 1005, 1006, 1008]
    t = {task.key: task for task in plan.tasks}
    assert t[1001].role == "keyframe" and t[1001].needs == frozenset()
    assert t[1004].needs == {1001} and t[1007].needs == {1004}  # chained: each from the keyframe before
    assert t[1002].role == "between" and t[1002].needs == {1001}
    assert t[1003].needs == {1002, 1004}  # the last `pull` frames are pulled toward the next keyframe
    assert t[1008].needs == {1007}  # the last chunk has no next keyframe
    independent = plan_shot(FRAMES, table(), LOOK, boil=Boil(chunk=3, pull=0, chained=False))
    assert all(task.needs == frozenset() for task in independent.tasks if task.role == "keyframe")
    assert independent.task(1003).needs == {1002}


def test_a_frame_held_from_two_keyframes_and_a_task_that_is_not_a_frame() -> None:
    # Issue 25's frames between keyframes held from both sides: a pull over the whole chunk.
    plan = plan_shot(FRAMES, table(), LOOK, boil=Boil(chunk=4, pull=3))
    assert plan.task(1002).needs == {1001, 1005}
    # Issue 26's painter trained on finished frames: a task keyed by name, after the keyframes it learns from.
    train = Task("train", "other", frozenset({1001, 1005}))
    plan = plan_shot(FRAMES, table(), LOOK, boil=Boil(chunk=4, pull=3), extra=[train])
    assert plan.tasks[-1] is train and train.frame is None and "train" not in plan.todo
    assert [t.key for t in ready(plan, [])] == [1001]
    assert {t.key for t in ready(plan, [1001])} == {1005}  # 1002 waits for both its keyframes
    assert {t.key for t in ready(plan, [1001, 1005])} == {1002, 1006, "train"}


def test_ready_counts_needs_outside_the_plan_as_done() -> None:
    facts = table(f1001=settled(), f1004=settled())  # keyframes painted by an earlier run
    plan = plan_shot(FRAMES, facts, LOOK, boil=Boil(chunk=3, pull=1))
    assert plan.todo == [1007, 1002, 1003, 1005, 1006, 1008]
    assert {t.key for t in ready(plan, [])} == {1007, 1002, 1005}


def test_units_for_every_executor() -> None:
    plan = plan_shot(FRAMES, table(), LOOK)
    assert units(plan) == [Unit((n,)) for n in FRAMES]
    assert [u.frames for u in units(plan, 3)] == [(1001, 1002, 1003), (1004, 1005, 1006), (1007, 1008)]
    independent = plan_shot(FRAMES, table(), LOOK, boil=Boil(chunk=3, chained=False))
    got = units(independent)
    assert [u.frames for u in got] == [(1001,), (1004,), (1007,), (1002, 1003), (1005, 1006), (1008,)]
    assert [set(u.needs) for u in got] == [set(), set(), set(), {1001, 1004}, {1004, 1007}, {1007}]
    assert [u.chained for u in got] == [False, False, False, True, True, True]
    assert [u.chunk for u in got[3:]] == [1001, 1004, 1007]
    chained = units(plan_shot(FRAMES, table(), LOOK, boil=Boil(chunk=3, chained=True)))
    assert [u.frames for u in chained] == [(1001, 1004, 1007), (1002, 1003), (1005, 1006), (1008,)]
    part = plan_shot(FRAMES, table(), LOOK, wanted=[1005, 1006], boil=Boil(chunk=3))
    assert units(part) == [Unit((1005, 1006), frozenset(), chained=True, chunk=1004)]  # keyframes done: no wait
    with pytest.raises(ValueError):
        units(plan, 0)


def test_frame_tasks_keep_the_shots_order_whatever_order_they_come_in() -> None:
    assert [t.key for t in frame_tasks([1003, 1001, 1002], FRAMES, None)] == [1001, 1002, 1003]
    assert [t.key for t in frame_tasks([1003, 1005, 1007], FRAMES, Boil(chunk=3))] == [1007, 1003, 1005]


def test_two_sided_frames_need_both_keyframes_and_the_last_frame_is_one() -> None:
    # 8 frames, chunk 3: keyframes 1001, 1004, 1007 and the shot's last frame 1008.
    plan = plan_shot(FRAMES, table(), LOOK, boil=Boil(chunk=3, chained=True, between="two-sided"))
    keys = [t.key for t in plan.tasks if t.role == "keyframe"]
    assert keys == [1001, 1004, 1007, 1008]
    assert plan.task(1004).needs == {1001} and plan.task(1008).needs == {1007}
    assert plan.task(1002).needs == {1001, 1004} and plan.task(1003).needs == {1001, 1004}
    assert plan.task(1005).needs == {1004, 1007} and plan.task(1006).needs == {1004, 1007}
    # Once the keyframes are done, every frame between them is ready at once: chunks and their frames in parallel.
    assert {t.key for t in ready(plan, keys)} == {1002, 1003, 1005, 1006}
    got = units(plan)
    assert got[0] == Unit((1001, 1004, 1007, 1008))
    assert got[1:] == [Unit((1002, 1003), frozenset({1001, 1004}), chained=False, chunk=1001),
                       Unit((1005, 1006), frozenset({1004, 1007}), chained=False, chunk=1004)]
    # Independent keyframes need nothing; a shot whose last frame starts a chunk adds no keyframe.
    independent = plan_shot(FRAMES, table(), LOOK, boil=Boil(chunk=3, chained=False, between="two-sided"))
    assert all(not t.needs for t in independent.tasks if t.role == "keyframe")
    seven = plan_shot(FRAMES[:7], {n: FrameFacts() for n in FRAMES[:7]}, LOOK, boil=Boil(chunk=3, between="two-sided"))
    assert [t.key for t in seven.tasks if t.role == "keyframe"] == [1001, 1004, 1007]


def test_forward_keeps_its_plan() -> None:
    """Forward (the scheme of versions painted before two-sided existed) plans exactly as it did."""
    plan = plan_shot(FRAMES, table(), LOOK, boil=Boil(chunk=3, pull=1, chained=True))
    assert [t.key for t in plan.tasks if t.role == "keyframe"] == [1001, 1004, 1007]
    assert plan.task(1003).needs == {1002, 1004} and plan.task(1002).needs == {1001}
    assert plan.task(1008).needs == {1007}
    assert all(u.chained for u in units(plan)[1:])
