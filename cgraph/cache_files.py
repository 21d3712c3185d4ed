"""Reading and writing the cache's files safely.

Every file cgraph reads from its cache is opened the same way: without following a link,
without blocking (a FIFO put in place of a file would hang ``open``), and used only if it is
a regular file of ours that nobody else can write. The small records cgraph keeps beside
the modules (pre-key records, compiler probes, compiled templates) are sealed: a header line
holds the sha256 of what follows, checked before a byte of it is used, so a flipped, edited,
truncated or swapped record is found broken rather than believed.
"""
import hashlib
import os
import stat

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | \
    getattr(os, "O_CLOEXEC", 0)
_MAGIC = b"cgraph-sealed-1 "      # then 64 hex digits of sha256, a newline, the payload
_HEADER_LENGTH = len(_MAGIC) + 64 + 1


class BadFile(Exception):
    """A cache file that must not be used; the message says why (``path`` names it)."""

    def __init__(self, path: str, why: str):
        super().__init__(f"{path} {why}")
        self.path, self.why = path, why


def open_regular(path: str, owners: tuple[int, ...] | None = None) -> int:
    """A descriptor of ``path`` open for reading, if it is a regular file of ours (or of one
    of the user ids ``owners``) that only its owner can write. FileNotFoundError if it is
    absent; BadFile if it is anything else."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        raise
    except NotADirectoryError:
        raise FileNotFoundError(path) from None
    except OSError as exc:
        import errno
        if exc.errno == errno.ELOOP:
            raise BadFile(path, "is a symbolic link") from None
        raise BadFile(path, f"cannot be read ({exc.strerror})") from None
    try:
        problem = file_problem(os.fstat(fd), owners)
        if problem:
            raise BadFile(path, problem)
    except BaseException:
        os.close(fd)
        raise
    return fd


def file_problem(st: os.stat_result, owners: tuple[int, ...] | None = None) -> str | None:
    """Why a file with the (f)stat result ``st`` cannot be trusted, or None. It must belong
    to us, or to one of the user ids ``owners`` when given (a shipped unit may be root's)."""
    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file"
    if owners is None and st.st_uid != os.geteuid():
        return f"belongs to user {st.st_uid}, not to you"
    if owners is not None and st.st_uid not in owners:
        return f"belongs to user {st.st_uid}, not to user {' or '.join(map(str, owners))}"
    if st.st_mode & 0o022:
        return f"is writable by others (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def read_regular(path: str, limit: int = 64 << 20, owners: tuple[int, ...] | None = None) -> bytes:
    """The bytes of ``path`` (see open_regular), at most ``limit`` of them (BadFile beyond)."""
    fd = open_regular(path, owners)
    with os.fdopen(fd, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise BadFile(path, f"is larger than {limit} bytes")
    return data


def seal(payload: bytes) -> bytes:
    """``payload`` behind a header holding its sha256."""
    return _MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload


def unseal(path: str, data: bytes) -> bytes:
    """The payload of the sealed ``data`` read from ``path``; BadFile if it does not check."""
    if not data.startswith(_MAGIC) or len(data) < _HEADER_LENGTH or \
            data[_HEADER_LENGTH - 1:_HEADER_LENGTH] != b"\n":
        raise BadFile(path, "is not a sealed cgraph record (damaged or foreign)")
    payload = data[_HEADER_LENGTH:]
    if hashlib.sha256(payload).hexdigest().encode() != data[len(_MAGIC):_HEADER_LENGTH - 1]:
        raise BadFile(path, "does not match its checksum (altered or corrupted)")
    return payload


def read_sealed(path: str, limit: int = 64 << 20):
    """The verified payload of the sealed record at ``path``; None if there is none; BadFile
    if it is not a trustworthy regular file or does not match its checksum."""
    try:
        data = read_regular(path, limit + _HEADER_LENGTH)
    except FileNotFoundError:
        return None
    return unseal(path, data)


def make_private_dirs(path: str) -> str:
    """Create ``path`` and its missing parents, each 0700 (narrowed by the umask)."""
    missing, target = [], path
    while not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for p in reversed(missing):
        try:
            os.mkdir(p, 0o700)
        except FileExistsError:
            pass
    return target


def write_sealed(path: str, payload: bytes) -> bool:
    """Publish the sealed ``payload`` at ``path`` in one rename (its folder made if missing,
    as after a ``cache clear``); the file is 0600. False if it cannot be written."""
    folder = os.path.dirname(path)
    tmp = f"{path}.{os.getpid()}.{os.urandom(6).hex()}.tmp"
    for attempt in range(2):
        try:
            make_private_dirs(folder)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL |
                         getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0), 0o600)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(seal(payload))
                os.replace(tmp, path)
                return True
            finally:
                if os.path.lexists(tmp):
                    os.unlink(tmp)
        except FileNotFoundError:
            continue            # the folder went (a `cache clear` beside us): once more
        except OSError:
            return False        # only saves time later (the cache may be read-only or full)
    return False
