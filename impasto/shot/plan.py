"""What a shot render will do, decided before anything is painted: one pure function from a shot version's frames,
its boil settings and what each frame's manifest entry and files say, to the tasks that paint it.

No I/O here. The caller (`impasto.shot.render.ShotRenderer.plan`) reads the plate, the manifest and the written
frames and hands over one `FrameFacts` per frame; `plan_shot` turns those tables into a `Plan`: which frames are
done, to do (and why), missing (no plate frame) or damaged (done, but the file is gone or does not read back), and
the `Task`s in the order they paint, each with what it needs finished first. `units` groups the tasks into the
work one process takes at a time (a farm task, a Ray task, a local render's turn), so a local render, several local
renders sharing the frame locks, Ray and a farm export all split a shot the same way.

Dependencies are task keys: a frame's key is its number, any other task's a string (for instance "train", a
painter trained on finished frames). At boil 0 frames need nothing. At boil > 0 (`Boil`) the shot's frames fall
into chunks of `chunk` frames counted on the shot's whole frame list, so every task agrees on them; a chunk's
first frame is its keyframe (two-sided and relay, the shot's last frame is one too, so every chunk is closed on
both ends). A chained keyframe needs the keyframe before it. Two-sided, a frame between keyframes K and K' needs
both and nothing else, so a chunk's frames paint in parallel; relay, the frame before it and K'; forward, the
frame before it, and the last `pull` frames of a chunk the next keyframe too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from impasto.shot.manifest import FrameEntry

TaskKey = int | str
Role = Literal["frame", "keyframe", "between", "learned", "other"]
TRAIN = "train"  # the task that learns a painter from finished keyframes (render.learned)
DAMAGED = "file missing or damaged"


@dataclass(frozen=True)
class FrameFacts:
    """What one frame's files and manifest entry say, as read by the caller (the only I/O a plan needs).

    `opens` may be None when the caller did not look (the entry is not a finished one, so it does not matter);
    `mattes` is None when the look paints no regions (then mattes are not compared)."""

    entry: FrameEntry | None = None
    plate: bool = True  # the plate frame is there
    output: bool = False  # the painted frame's file exists
    opens: bool | None = None  # ... and reads back whole at the plate's size
    input_hash: str | None = None  # the plate frame's digest now
    mattes: dict[str, str] | None = None  # the regions' matte digests now
    dissolve: float = 1.0  # the dissolve weight the shot asks for now
    learned: bool = False  # with render.learned: a frame the learned painter paints
    painter: str | None = None  # ... and the id of the painter the keyframes make now (None: they are not all done)


@dataclass(frozen=True)
class Boil:
    """The shape boil gives a shot's dependencies (`TemporalSettings` without what does not change the plan)."""

    chunk: int
    pull: int = 0
    chained: bool = True
    between: str = "forward"  # how frames between keyframes are held: forward, two-sided or relay

    @property
    def closed(self) -> bool:
        """The shot's last frame is a keyframe too (two-sided and relay hold every frame toward the next one)."""
        return self.between != "forward"

    @property
    def two_sided(self) -> bool:
        return self.between == "two-sided"


@dataclass(frozen=True)
class Learned:
    """A shot painted from keyframes (render.learned): every `every`-th frame and the last are painted by the
    optimisation, a painter is learned from them (`TRAIN`), and it paints the rest. `trained`: the painter the
    keyframes make now is there already."""

    every: int
    trained: bool = False


@dataclass(frozen=True)
class Task:
    """One unit of work: a frame to paint (`frame` set) or another task (a painter to train), and the keys of the
    tasks it needs finished first. A need that is not in the plan is already done."""

    key: TaskKey
    role: Role = "frame"
    needs: frozenset[TaskKey] = frozenset()

    @property
    def frame(self) -> int | None:
        return self.key if isinstance(self.key, int) else None


@dataclass(frozen=True)
class Unit:
    """Frames one process paints in order, and the frames of other units it waits for. `chained`: its frames
    depend on each other, so when another render holds one of them, that render paints the rest."""

    frames: tuple[int, ...]
    needs: frozenset[int] = frozenset()
    chained: bool = False
    chunk: int | None = None  # a boil chunk's keyframe (its name in messages)
    task: str | None = None  # a task that is not frames (TRAIN: learn the painter); `frames` is then empty
    waits: frozenset[str] = frozenset()  # such tasks this unit waits for


@dataclass
class Plan:
    """What a render does with the frames it was asked for."""

    frames: list[int]  # asked for, in the shot's order
    todo: list[int]  # to paint, in the order they paint
    skip: list[int]  # done (or painted before their plate frame went)
    reasons: dict[int, str] = field(default_factory=dict)  # why each todo frame paints
    missing: list[int] = field(default_factory=list)  # no plate frame: recorded, not painted
    started: float = 0.0  # when the plan was made (time.time()): frames another render finishes later are its
    tasks: list[Task] = field(default_factory=list)  # the todo frames (and other tasks) with their needs, in order
    other_look: list[int] = field(default_factory=list)  # done with another look: the version would mix two
    boil: Boil | None = None
    shot_frames: list[int] = field(default_factory=list)  # the shot's whole frame list (chunks count on it)
    learned: Learned | None = None

    @property
    def damaged(self) -> list[int]:
        """Frames recorded as done whose file is gone or does not read back whole."""
        return [n for n in self.todo if self.reasons.get(n) == DAMAGED]

    def task(self, key: TaskKey) -> Task:
        return next(t for t in self.tasks if t.key == key)


def frame_reason(facts: FrameFacts, look_hash: str) -> str | None:
    """Why a frame needs painting, or None when its manifest entry and file say it is done."""
    entry = facts.entry
    if entry is None:
        return "new" if not facts.output else "not in the manifest"
    if entry.status == "failed":
        return "failed before"
    if entry.status == "missing":
        return "plate was missing"
    if entry.look_hash != look_hash:
        return "look changed"
    if entry.input_hash != facts.input_hash:
        return "plate changed"
    if facts.mattes is not None and (entry.mattes or {}) != facts.mattes:
        return "matte changed"
    if abs(entry.dissolve - facts.dissolve) > 1e-6:
        return "dissolve changed"
    if facts.learned and facts.painter is None:
        return "keyframes to paint first"
    if facts.learned and entry.painter != facts.painter:
        return "keyframes changed"
    if not facts.opens:
        return DAMAGED
    return None


def keyframes(frames: Sequence[int], chunk: int, last: bool = False) -> list[int]:
    """The shot's keyframes: its frames 0, chunk, 2·chunk… (of the whole frame list, whatever a task renders), and
    with `last` its last frame too."""
    keys = list(frames[::chunk])
    if last and frames and keys[-1] != frames[-1]:
        keys.append(frames[-1])
    return keys


def chunks(frames: Sequence[int], chunk: int) -> list[list[int]]:
    return [list(frames[i:i + chunk]) for i in range(0, len(frames), chunk)]


def next_keyframe(frames: Sequence[int], chunk: int, frame: int, last: bool = False) -> int | None:
    """The first keyframe after `frame` (`keyframes(frames, chunk, last)`); None after the last one."""
    i = list(frames).index(frame)
    return next((k for k in keyframes(frames, chunk, last) if frames.index(k) > i), None)


def keyframe_before(frames: Sequence[int], chunk: int, frame: int, last: bool = False) -> int | None:
    """The last keyframe before `frame` (`keyframes(frames, chunk, last)`); None before the first."""
    i = list(frames).index(frame)
    return next((k for k in reversed(keyframes(frames, chunk, last)) if frames.index(k) < i), None)


def frame_tasks(todo: Iterable[int], frames: Sequence[int], boil: Boil | None) -> list[Task]:
    """The tasks that paint `todo` (frames of the shot's `frames`), in the order they paint: the shot's order at
    boil 0; at boil > 0 every keyframe first, then each chunk's other frames in order."""
    index = {n: i for i, n in enumerate(frames)}
    todo = sorted(set(todo), key=index.__getitem__)
    if boil is None:
        return [Task(n) for n in todo]
    last = boil.closed
    keys = set(keyframes(frames, boil.chunk, last))
    out = []
    for n in [n for n in todo if n in keys] + [n for n in todo if n not in keys]:
        i = index[n]
        before = keyframe_before(frames, boil.chunk, n, last)
        key = next_keyframe(frames, boil.chunk, n, last)
        if n in keys:
            needs = {before} if boil.chained and before is not None else set()
            out.append(Task(n, "keyframe", frozenset(needs)))
        elif boil.two_sided:
            out.append(Task(n, "between", frozenset(k for k in (before, key) if k is not None)))
        else:
            needs = {frames[i - 1]}
            if key is not None and (boil.between == "relay" or boil.pull > 0 and index[key] - i <= boil.pull):
                needs.add(key)
            out.append(Task(n, "between", frozenset(needs)))
    return out


def learned_tasks(todo: Iterable[int], frames: Sequence[int], learned: Learned) -> list[Task]:
    """With render.learned: the keyframes to paint (each on its own), then, when any other frame is to paint and
    the painter the keyframes make is not there (or a keyframe paints again), `TRAIN` after them, then the other
    frames, each after `TRAIN`."""
    index = {n: i for i, n in enumerate(frames)}
    todo = sorted(set(todo), key=index.__getitem__)
    keys = set(keyframes(frames, learned.every, last=True))
    key_tasks = [Task(n, "keyframe") for n in todo if n in keys]
    rest = [n for n in todo if n not in keys]
    train = bool(rest) and (not learned.trained or bool(key_tasks))
    needs = frozenset([TRAIN]) if train else frozenset()
    out = key_tasks + ([Task(TRAIN, "other", frozenset(t.key for t in key_tasks))] if train else [])
    return out + [Task(n, "learned", needs) for n in rest]


def plan_shot(frames: Sequence[int], facts: Mapping[int, FrameFacts], look_hash: str, *,
              wanted: Sequence[int] | None = None, boil: Boil | None = None, started: float = 0.0,
              extra: Sequence[Task] = (), learned: Learned | None = None) -> Plan:
    """The plan for painting `wanted` (default: all) of a shot version whose frames are `frames`, from the `facts`
    of each wanted frame (and of any other frame the manifest holds as done, for `other_look`). `extra` tasks (not frames) run after the frames they need. Pure: tables in, a table out."""
    wanted = list(frames) if wanted is None else [n for n in frames if n in set(wanted)]
    todo, skip, reasons, missing = [], [], {}, []
    # Any frame of the version counts, asked for or not: a version never mixes two looks.
    other_look = sorted(n for n, f in facts.items() if f.entry is not None and f.entry.status == "done"
                        and f.entry.look_hash != look_hash and f.output)
    for n in wanted:
        f = facts[n]
        if not f.plate:
            if f.entry is not None and f.entry.status == "done" and f.output:
                skip.append(n)  # painted before its plate frame went: keep the painting
            else:
                missing.append(n)
            continue
        reason = frame_reason(f, look_hash)
        if reason:
            todo.append(n)
            reasons[n] = reason
        else:
            skip.append(n)
    tasks = (learned_tasks(todo, frames, learned) if learned is not None else frame_tasks(todo, frames, boil)) + list(extra)
    order = [t.frame for t in tasks if t.frame is not None]
    return Plan(wanted, order, skip, reasons, missing, started, tasks, other_look, boil, list(frames), learned)


def ready(plan: Plan, finished: Iterable[TaskKey]) -> list[Task]:
    """The plan's tasks not finished whose needs are all finished (or not in the plan: done before it)."""
    finished = set(finished)
    keys = {t.key for t in plan.tasks}
    return [t for t in plan.tasks if t.key not in finished and all(k in finished or k not in keys for k in t.needs)]


def units(plan: Plan, per_task: int = 1) -> list[Unit]:
    """The plan's frames grouped into the units processes take: at boil 0, runs of `per_task` frames in order, each
    on its own; at boil > 0, the keyframes (one unit in order when chained, else one each), then each chunk's other
    frames in order, waiting for its own keyframe and the next one (forward: the one it is pulled toward). A forward
    chunk (and a relay one) is chained: its frames depend on each other; a two-sided one is not."""
    if per_task < 1:
        raise ValueError("per_task must be 1 or more")
    todo = plan.todo
    if plan.learned is not None:
        return _learned_units(plan, per_task)
    if plan.boil is None:
        return [Unit(tuple(todo[i:i + per_task])) for i in range(0, len(todo), per_task)]
    frames, chunk, two = plan.shot_frames, plan.boil.chunk, plan.boil.two_sided
    wanted = set(todo)
    every = keyframes(frames, chunk, plan.boil.closed)
    keys = [k for k in every if k in wanted]
    out = ([Unit(tuple(keys))] if keys else []) if plan.boil.chained else [Unit((k,)) for k in keys]
    for part in chunks(frames, chunk):
        rest = tuple(n for n in part[1:] if n in wanted and n not in every)
        if rest:
            nxt = next_keyframe(frames, chunk, part[0], plan.boil.closed)
            needs = frozenset(k for k in (part[0], nxt) if k is not None and k in wanted)
            # Forward, a chunk's frames are a chain (each from the one before); two-sided they are independent.
            out.append(Unit(rest, needs, chained=not two, chunk=part[0]))
    return out


def _learned_units(plan: Plan, per_task: int) -> list[Unit]:
    """render.learned: each keyframe its own unit (they are independent), then `TRAIN` (waiting for the keyframes
    in the plan), then the other frames in runs of `per_task`, each waiting for `TRAIN` when it is in the plan."""
    keys = [t.frame for t in plan.tasks if t.role == "keyframe" and t.frame is not None]
    rest = [t.frame for t in plan.tasks if t.role == "learned" and t.frame is not None]
    train = any(t.key == TRAIN for t in plan.tasks)
    out = [Unit((k,)) for k in keys]
    if train:
        out.append(Unit((), frozenset(keys), task=TRAIN))
    waits = frozenset([TRAIN]) if train else frozenset()
    return out + [Unit(tuple(rest[i:i + per_task]), waits=waits) for i in range(0, len(rest), per_task)]
