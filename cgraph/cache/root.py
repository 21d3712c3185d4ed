"""Where the cache is, and whether to trust it: the root folder, its owner and mode
checks, and making private folders inside it."""
import contextlib
import os
import pwd
import shlex
import stat
from typing import Optional, Union

from ..cache_files import make_private_dirs
from ..config import config
from .errors import CacheTrustError
from .layout import FORMAT_VERSION
from .state import folder_checked, remember_folder_checked, remember_root, root_state

# What open_root finds: "writable", "readonly", or ("unusable", why).
RootState = Union[str, tuple[str, str]]


def cache_root() -> str:
    """The cache folder: $CGRAPH_CACHE_DIR, else the cache_dir flag, else
    $XDG_CACHE_HOME/cgraph, else ~/.cache/cgraph (absolute; not created here)."""
    root = os.environ.get("CGRAPH_CACHE_DIR") or config.cache_dir
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(base, "cgraph")
    return os.path.abspath(root)


def user_name(uid: int) -> str:
    """The login name of user ``uid`` for messages (the number itself if it has none)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def trust_problem(path: str, st: os.stat_result, what: str) -> Optional[str]:
    """Why ``path`` (lstat result ``st``) cannot be trusted, with the fix; None if it can."""
    q = shlex.quote(path)
    if stat.S_ISLNK(st.st_mode):
        target = os.path.realpath(path)
        return (f"{what} {path} is a symbolic link (to {target}); cgraph does not follow links "
                f"in its cache, since a link can be pointed at files someone else controls. "
                f"Remove it (rm {q}) or set CGRAPH_CACHE_DIR={shlex.quote(target)} if that "
                f"folder is yours.")
    if not stat.S_ISDIR(st.st_mode):
        return f"{what} {path} is not a folder. Remove it (rm {q}) or set CGRAPH_CACHE_DIR."
    me = os.geteuid()
    if st.st_uid != me:
        return (f"{what} {path} belongs to user {user_name(st.st_uid)}, not to you "
                f"({user_name(me)}); loading modules from it would run code that user can "
                f"change. Fix: chown -R {user_name(me)} {q} (as root), or set "
                f"CGRAPH_CACHE_DIR to a folder of your own.")
    if st.st_mode & 0o022:
        who = " and ".join(w for bit, w in ((0o020, "its group"), (0o002, "everyone"))
                           if st.st_mode & bit)
        return (f"{what} {path} is writable by {who} (mode {stat.S_IMODE(st.st_mode):o}); "
                f"anyone who can write there can make this process run their code. "
                f"Fix: chmod 700 {q}")
    return None


def _make_dirs(path):
    """Create ``path`` and its missing parents, each readable by its owner only."""
    make_private_dirs(path)


def ensure_dir(path: str) -> str:
    """``path``, created first with its missing parents (each readable by its owner only)
    if absent; raises OSError if it cannot be."""
    _make_dirs(path)
    return path


def open_root(root: str) -> RootState:
    """Check the cache root once per process: "writable", "readonly", or ("unusable", why).

    Raises CacheTrustError if it exists but is a link, another user's, or writable by others.
    """
    state = root_state(root)
    if state is not None:
        return state
    try:
        st = os.lstat(root)
    except FileNotFoundError:
        try:
            _make_dirs(root)
            st = os.lstat(root)
        except OSError as exc:
            st = None
            state = ("unusable", f"it cannot be created: {exc.strerror or exc}")
    except OSError as exc:      # e.g. a path under a file
        st = None
        state = ("unusable", f"it cannot be used: {exc.strerror or exc}")
    if st is not None:
        problem = trust_problem(root, st, "The cgraph cache folder")
        if problem:
            raise CacheTrustError(problem)
        state = "writable" if os.access(root, os.W_OK) else "readonly"
        check_cache_dir(os.path.join(root, FORMAT_VERSION))
    remember_root(root, state)
    return state


def check_cache_dir(path: str) -> None:
    """A folder cgraph made inside the cache (v1/, v1/<abi>/, a shard) must still be a real
    folder of ours that nobody else can write, if it exists: raises CacheTrustError if not.
    Checked once per process."""
    if folder_checked(path):
        return
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return
    problem = trust_problem(path, st, "The cgraph cache folder")
    if problem:
        raise CacheTrustError(problem)
    remember_folder_checked(path)


def untrusted_folders(root: str, path: str) -> bool:
    """Whether a folder between ``root`` (checked already) and ``path`` is not cgraph's:
    a link, another user's, or writable by others. Absent folders are fine."""
    folder = os.path.dirname(path)
    while folder != root and len(folder) > len(root):
        try:
            if trust_problem(folder, os.lstat(folder), "folder"):
                return True
        except (FileNotFoundError, NotADirectoryError):
            pass
        folder = os.path.dirname(folder)
    return False


def unlink_quietly(path: str) -> None:
    """Remove the file ``path`` if it can be; a file already gone, or one that cannot be
    removed, is left to housekeeping."""
    with contextlib.suppress(OSError):
        os.unlink(path)
