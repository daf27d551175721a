"""Input and result files: input JSON read with one clear error (`read_json`), JSON written whole (a reader
never sees half a file) from one MPI rank, output paths checked before the work that fills them (never one
of the command's inputs), and run folders replaced whole when the new run is complete (`staged_folder`)."""

from __future__ import annotations

import copy
import itertools
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shapeopt.errors import CaseError, InterruptedWorkError, ShapeoptError, interrupt_behind


def special_file_kind(path: Path) -> str | None:
    """What an input path that is no regular file is ('a folder', 'a FIFO', 'a device', 'a socket'),
    checked before it is opened: reading a FIFO waits for a writer, a device may never end. None for a
    regular file (or a link to one), and for a path that cannot be looked at (opening it says why)."""
    try:
        return _kind(path.stat().st_mode)
    except (OSError, RuntimeError):
        return None


def _kind(mode: int) -> str | None:
    """What a file of `mode` is when it is no regular file; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    return "a socket" if stat.S_ISSOCK(mode) else "a device"


def shown(path: Path | str) -> str:
    """`path` as messages name it: whole, or cut in the middle when it is too long to read in one line."""
    text = str(path)
    return text if len(text) <= 160 else f"{text[:60]}…{text[-60:]} ({len(text)} characters)"


def check_input_file(path: Path, what: str) -> None:
    """Refuse, before it is opened, an input file that is not there, cannot be looked at (a name longer
    than the system takes, a loop of symbolic links, no permission) or is no regular file (a FIFO waits
    for a writer, a device may never end): `CaseError` in one line naming `what` ("surrogate file")."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise CaseError(f"{what} not found: {shown(path)}") from None
    except OSError as exc:
        raise CaseError(f"cannot read {what} {shown(path)}: {exc.strerror or exc}") from None
    kind = _kind(mode)
    if kind is not None:
        raise CaseError(f"cannot read {what} {shown(path)}: it is {kind}, not a regular file")


def read_json(path: Path, what: str) -> Any:
    """The JSON content of the input file `path`; `CaseError` in one line when it is missing, unreadable or
    not JSON (also when nested too deep to read, or no regular file: a FIFO would wait for a writer).
    `what` names the file in messages ("shape file")."""
    check_input_file(Path(path), what)
    try:
        return json.loads(Path(path).read_text())
    except OSError as exc:
        raise CaseError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except RecursionError:
        raise CaseError(f"{path}: not {_a(what)} (JSON nested too deep)") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise CaseError(f"{path}: not {_a(what)} ({exc.__class__.__name__}: {exc})") from None


def _a(what: str) -> str:
    """`what` with its indefinite article: 'a shape file', 'an atlas record'."""
    return f"{'an' if what[:1] in tuple('aeiou') else 'a'} {what}"


def write_json(data: dict[str, Any], path: Path, rank: int = 0) -> None:
    """Write `data` as indented JSON from rank 0 only, through a temporary file and an atomic rename. A
    write that fails (a full disk) leaves `path` as it was and no temporary file: `CaseError` naming it."""
    if rank != 0:
        return
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with written_whole(path) as tmp:
            tmp.write_text(json.dumps(data, indent=2) + "\n")
    except OSError as exc:
        raise CaseError(f"cannot write {shown(path)}: {exc.strerror or exc}") from None


@contextmanager
def written_whole(path: Path) -> Iterator[Path]:
    """A temporary sibling of `path` to write (`.NAME.partial-PID.SUFFIX`: the suffix kept, so that a
    picture's format follows from it), put in the place of `path` when the block ends
    (`replace_regular_file`); if it fails (a full disk) the temporary file is removed and `path` stays as
    it was."""
    path = Path(path)
    partial = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    try:
        yield partial
        replace_regular_file(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def replace_regular_file(tmp: Path, path: Path) -> None:
    """Put the finished file `tmp` in the place of `path`, looked at again now, at the end: `CaseError`
    (and `tmp` removed) if `path` has become a folder, FIFO, device or socket since the start."""
    kind = special_file_kind(Path(path))
    if kind is not None:
        Path(tmp).unlink(missing_ok=True)
        raise CaseError(f"cannot write {shown(path)}: it is now {kind}, not a regular file; nothing replaced")
    os.replace(tmp, path)


# The files that make a folder a run folder (`solve`, `optimize`, `run`), replaceable by a new run.
RUN_FILES = ("summary.json", "history.json", "design.json")


def check_output_folder(path: Path, inputs: Iterable[Path | None] = ()) -> None:
    """Refuse, before any work, an output folder that is a file, is or holds one of the command's `inputs`,
    or cannot be created or written (a file is created there and removed: `probe_folder`)."""
    path = Path(path)
    _refuse_as_folder(path)
    refuse_writing_over_inputs(path, inputs, folder=True)
    probe_folder(path)


def check_run_folder(path: Path, inputs: Iterable[Path | None] = ()) -> None:
    """`check_output_folder` for a run folder that `staged_folder` replaces whole when the run is complete:
    it must also be new, empty or an earlier run (it holds one of `RUN_FILES`), and neither the current
    folder nor one above it; its parent must take the run in progress."""
    path = Path(path)
    _refuse_as_folder(path)
    refuse_writing_over_inputs(path, inputs, folder=True)
    here = Path.cwd().resolve()
    if path.resolve() == here or path.resolve() in here.parents:
        raise CaseError(f"--out {path} is the current folder or holds it; give a run folder inside it")
    if path.is_dir() and any(path.iterdir()) and not any((path / name).is_file() for name in RUN_FILES):
        raise CaseError(
            f"--out {path} is a folder of other files, not a run; give a new folder or an earlier run's "
            "(replaced when the new run is complete)"
        )
    probe_folder(path.resolve().parent, path)


def check_output_file(path: Path, example: str, inputs: Iterable[Path | None] = ()) -> None:
    """Refuse, before any work, an output file path that is a folder or no regular file (a FIFO, a
    device: never replaced by a file), is one of the command's `inputs` or a file the program keeps
    beside another (`managed_name`), or cannot be created or replaced."""
    path = Path(path)
    kind = _output_kind(path)
    if kind == "a folder":
        raise CaseError(f"--out {path} is a folder; give a file name such as {path / example}")
    if kind is not None:
        raise CaseError(f"--out {shown(path)} is {kind}, not a regular file; give a file name")
    if path.exists() and not os.access(path, os.W_OK):
        raise CaseError(f"--out {path} is not writable")
    refuse_writing_over_inputs(path, inputs, folder=False)
    probe_folder(path.absolute().parent, path)


def managed_name(path: Path) -> str | None:
    """What the program keeps under the name of `path` beside a file or folder it writes, if it is such a
    name: a dataset's lock `FILE.lock`, or a file or folder in progress (`.NAME.tmp`, `.NAME.recover`,
    `.NAME.partial-PID[.SUFFIX]`, `.NAME.old-PID`); None for any other name. An output of that name would be
    overwritten by the program, or overwrite what it keeps there."""
    name = Path(path).name
    if name.endswith(".lock"):
        return f"the lock file of {name.removesuffix('.lock')} while a dataset is written"
    if re.fullmatch(r"\..+\.(?:tmp|recover|partial|old)(?:-\d+)*(?:\.\w+)?", name):
        return "a file in progress, which the program writes and removes"
    return None


def _output_kind(path: Path) -> str | None:
    """What the output `path` is when it exists and is no regular file ('a folder', 'a FIFO', ...); None
    for a regular file or a new name. `CaseError` in one line for a path that cannot be looked at (a
    name longer than the system takes, a loop of symbolic links) and for a `managed_name`."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None
    except OSError as exc:
        raise CaseError(f"--out {shown(path)}: {exc.strerror or exc}") from None
    managed = managed_name(path)
    if managed is not None:
        raise CaseError(f"--out {shown(path)} is the name of {managed}; give another name")
    return None if mode is None else _kind(mode)


def _refuse_as_folder(path: Path) -> None:
    """Refuse an output folder `path` that exists and is no folder (a file, a FIFO, a device)."""
    kind = _output_kind(path)
    if kind is None and path.exists():
        kind = "a file"
    if kind not in (None, "a folder"):
        raise CaseError(f"--out {shown(path)} is {kind}; give a folder for the run")


def refuse_writing_over_inputs(out: Path, inputs: Iterable[Path | None], folder: bool) -> None:
    """Refuse an output that is one of the command's `inputs` (compared resolved: through symbolic links
    and `..`, and as the same file under another name), or, for an output `folder`, holds one."""
    target = _resolved(out)
    for given in inputs:
        if given is None:
            continue
        source = _resolved(given)
        if source == target or _same_file(source, target):
            raise CaseError(f"--out {out} is the input {given}; give another name for the output")
        if folder and target in source.parents:
            raise CaseError(f"--out {out} holds the input {given}; give a folder that holds no input")


def _resolved(path: Path) -> Path:
    """`path` resolved (symbolic links and `..` followed) as far as it can be: a loop of links or a name
    too long to look at is taken as it is written (an absolute path)."""
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):
        return Path(path).absolute()


def probe_folder(path: Path, wanted: Path | None = None) -> None:
    """Refuse, before any work, a `path` (to be a folder, or to be created in the nearest folder on its
    way that exists) where no file can be made: a file is created in that folder and removed again."""
    wanted = Path(path) if wanted is None else wanted
    folder = Path(path).absolute()
    while not folder.exists():
        folder = folder.parent
    problem = "not a folder"
    if folder.is_dir():
        try:
            handle, name = tempfile.mkstemp(prefix=".shapeopt-probe-", dir=folder)
            os.close(handle)
            os.unlink(name)
            return
        except OSError as exc:
            problem = exc.strerror or str(exc)
    raise CaseError(f"cannot write {wanted}: {folder} is not a writable folder ({problem})")


@contextmanager
def staged_folder(out: Path, comm: Any = None) -> Iterator[Path]:
    """A fresh folder `.NAME.partial-PID` next to the run folder `out` for the `with` block to write the run
    into; when the block ends, it takes the place of `out` whole (an earlier run there is renamed away and
    deleted), so `out` holds one run, the earlier one until the new one is complete. Only what `out` held
    when the block began is deleted: anything that appeared there since is left alone, and the finished
    run kept beside it (`_swap_in`). When the block raises, `out` stays as it was and what the block
    wrote is kept: in `out` if it held no run, else in `NAME.partial` (`_keep_unfinished`). The temporary
    folders of killed runs of the same `out` are removed first (`remove_abandoned`). Under MPI (`comm`)
    rank 0 moves the folders."""
    final = Path(out).resolve()
    rank = 0 if comm is None else comm.rank
    work, before = None, None
    if rank == 0:
        remove_abandoned(final.parent, final.name)
        before = folder_listing(final)
        work = _fresh_folder(final.parent, f".{final.name}.partial-{os.getpid()}")
    if comm is not None:
        work = comm.bcast(work, root=0)
    try:
        yield work
        if comm is not None:
            comm.barrier()
    except BaseException as exc:
        if rank == 0:
            _keep_unfinished(work, final, exc)
        raise
    if rank == 0:
        _swap_in(work, final, before)
    if comm is not None:
        comm.barrier()


def remove_abandoned(folder: Path, name: str | None = None) -> None:
    """Remove the temporary run folders (`.NAME.partial-PID`, `.NAME.old-PID`, `staged_folder`) in
    `folder` of processes that no longer run (killed while they wrote), of the run folder `name` only, or
    of any. A folder of a process still alive stays, and so does `.NAME.old-PID` where `NAME` is missing
    (killed between the two renames of the swap: it holds the earlier run)."""
    pattern = re.escape(name) if name is not None else ".+"
    try:
        entries = list(Path(folder).iterdir())
    except OSError:  # no folder yet, or not readable: nothing of ours there
        return
    for path in entries:
        match = re.fullmatch(rf"\.({pattern})\.(partial|old)-(\d+)(?:-\d+)?", path.name)
        if not match or not path.is_dir() or path.is_symlink() or process_alive(int(match.group(3))):
            continue
        if match.group(2) == "old" and not (path.parent / match.group(1)).exists():
            continue
        shutil.rmtree(path, ignore_errors=True)


def process_alive(pid: int) -> bool:
    """Whether a process `pid` runs on this machine (another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


def folder_listing(folder: Path) -> dict[str, tuple[int, ...]] | None:
    """What `folder` holds, to tell later whether anything changed: relative path → (kind, inode, size,
    mtime) of each file and (kind,) of each folder, links not followed; None where it is no folder."""
    folder = Path(folder)
    if folder.is_symlink() or not folder.is_dir():
        return None
    listing: dict[str, tuple[int, ...]] = {}
    for root, dirs, files in os.walk(folder):
        for entry in [*dirs, *files]:
            path = Path(root) / entry
            info = path.lstat()
            relative = str(path.relative_to(folder))
            if stat.S_ISDIR(info.st_mode):
                listing[relative] = (stat.S_IFMT(info.st_mode),)
            else:
                listing[relative] = (stat.S_IFMT(info.st_mode), info.st_ino, info.st_size, info.st_mtime_ns)
    return listing


def _keep_unfinished(work: Path, final: Path, exc: BaseException) -> None:
    """Keep what an unfinished run wrote to `work`: as `final` if that holds no run, else as
    `NAME.partial` beside it; raise `exc` again naming where (Ctrl-C as `InterruptedWorkError`, a failed
    write such as a full disk as `CaseError`). Nothing written: `work` is removed and `exc` left as it is."""
    if not any(work.iterdir()):
        work.rmdir()
        return
    if final.is_dir() and any(final.iterdir()):
        kept, note = _fresh_name(final.parent, f"{final.name}.partial"), f" ({final} holds the earlier run)"
    else:
        kept, note = final, ""
        if final.is_dir():
            final.rmdir()
    os.rename(work, kept)
    interrupt = interrupt_behind(exc)
    if interrupt is not None:
        told = InterruptedWorkError(f"interrupted; the files written so far are kept in {kept}{note}")
        told.exit_code = getattr(interrupt, "exit_code", told.exit_code)  # Ctrl-C 130, a subclass its own
        raise told from None
    if isinstance(exc, ShapeoptError):
        told = copy.copy(exc)
        told.args = (f"{exc}; the files written so far are kept in {kept}{note}",)
        raise told from None
    if isinstance(exc, OSError):  # a full disk, a read-only mount: one line, exit code 2
        failed = Path(exc.filename).name if exc.filename else "the run"
        where = f"the files written so far are kept in {kept}{note}"
        raise CaseError(f"cannot write {failed}: {exc.strerror or exc}; {where}") from None


def _swap_in(work: Path, final: Path, before: dict[str, tuple[int, ...]] | None) -> None:
    """Put the complete run `work` in the place of `final`, deleting the earlier run there: only if
    `final` holds nothing but what it held when the run began (`before`, `folder_listing`); else
    `final` stays as it is and `work` is kept beside it as `NAME.new` (`CaseError` saying where)."""
    if not final.exists() and not final.is_symlink():
        try:
            os.rename(work, final)
            return
        except OSError:  # a folder that appeared there meanwhile, with files in it
            _refuse_swap(work, final, _changes(final, None))
    old = _fresh_name(final.parent, f".{final.name}.old-{os.getpid()}")
    os.rename(final, old)  # from here nothing new can arrive in what is checked
    changes = _changes(old, before)
    if changes:
        os.rename(old, final)
        _refuse_swap(work, final, changes)
    os.rename(work, final)
    shutil.rmtree(old, ignore_errors=True)


def _changes(folder: Path, before: dict[str, tuple[int, ...]] | None) -> list[str]:
    """The paths in `folder` that are new or changed since `before` (`folder_listing`), sorted; where
    `folder` is no folder (a file or a link put in its place), that."""
    now = folder_listing(folder)
    if now is None:
        return ["a file or link in its place"]
    return sorted(path for path, signature in now.items() if (before or {}).get(path) != signature)


def _refuse_swap(work: Path, final: Path, changes: list[str]) -> None:
    """Keep the finished run `work` as `NAME.new` beside `final`, which changed while it was written
    (`changes`), and raise `CaseError` in one line saying so and where the run is."""
    kept = _fresh_name(final.parent, f"{final.name}.new")
    os.rename(work, kept)
    shown = ", ".join(changes[:3]) + (f" and {len(changes) - 3} more" if len(changes) > 3 else "")
    raise CaseError(
        f"--out {final} changed while the run was written ({shown} appeared or changed there); it is left "
        f"as it is and the finished run is kept in {kept}"
    )


def _fresh_name(folder: Path, name: str) -> Path:
    """`folder / name`, or with `-2`, `-3`, … appended: the first that does not exist."""
    candidates = (folder / (name if n == 1 else f"{name}-{n}") for n in itertools.count(1))
    return next(path for path in candidates if not path.exists() and not path.is_symlink())


def _fresh_folder(folder: Path, name: str) -> Path:
    """A new empty folder `folder / name` (`_fresh_name`), its parents created."""
    while True:
        path = _fresh_name(folder, name)
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
        except OSError as exc:
            raise CaseError(f"cannot write {path}: {exc.strerror or exc}") from None


def _same_file(a: Path, b: Path) -> bool:
    """True when `a` and `b` both exist and are one file (also through hard links)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
