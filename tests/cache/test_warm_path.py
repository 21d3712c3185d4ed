"""What a warm function() reads to find its module: the code digest behind the pre-keys."""
import os

from cgraph.codegen.prekey import _describe_sources, code_digest


def _describe(folder):
    lines = []
    _describe_sources(str(folder), "", lines)
    return lines


def test_code_digest_lists_every_source_with_its_size_and_time_sorted(tmp_path):
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "b.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "a.c.j2").write_text("int a;\n")
    (tmp_path / "pkg" / "sub" / "c.h").write_text("#define C 1\n")
    (tmp_path / "pkg" / "notes.txt").write_text("not a source")
    (tmp_path / "pkg" / "__pycache__").mkdir()
    (tmp_path / "pkg" / "__pycache__" / "b.py").write_text("skipped: compiled code's folder")
    os.symlink(tmp_path / "pkg" / "sub", tmp_path / "pkg" / "link")   # not entered
    lines = _describe(tmp_path / "pkg")
    assert [line.split("\0")[0] for line in lines] == ["a.c.j2", "b.py", "sub/c.h"]
    size = (tmp_path / "pkg" / "b.py").stat()
    assert lines[1] == f"b.py\0{size.st_size}\0{size.st_mtime_ns}\0"


def test_code_digest_changes_with_an_edit(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("x = 1\n")
    before = _describe(tmp_path)
    source.write_text("x = 22\n")      # another size
    assert _describe(tmp_path) != before
    before = _describe(tmp_path)
    st = source.stat()
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns + 1000))   # same size, newer
    assert _describe(tmp_path) != before


def test_code_digest_is_stable_within_a_process():
    digest = code_digest()
    code_digest.cache_clear()
    assert code_digest() == digest and len(digest) == 64


# --- the runtime library's template digest, remembered under the code digest ---------------

def test_the_runtime_digest_is_read_from_a_verified_record(tmp_path, monkeypatch):
    """A first process reads the library's templates and keeps their digest in a sealed
    prekeys/*.digest record; later ones read the record instead of the templates; a record
    altered on disk is set aside with a warning and the templates are read again."""
    import glob
    import pytest
    from cgraph import cache, runtime_library
    monkeypatch.setenv("CGRAPH_CACHE_DIR", str(tmp_path / "cache"))
    cache.forget_checks()
    truth = runtime_library.source_digest()
    assert runtime_library._remembered_digest() == truth
    (path,) = glob.glob(str(tmp_path / "cache" / "prekeys" / "*" / "*.digest"))

    def no_templates():
        raise AssertionError("the templates were read again")
    monkeypatch.setattr(runtime_library, "source_digest", no_templates)
    assert runtime_library._remembered_digest() == truth
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:              # another digest, the seal left as it was
        f.write(data.replace(truth.encode(), ("0" * 64).encode()))
    monkeypatch.setattr(runtime_library, "source_digest", lambda: truth)
    cache.forget_checks()
    with pytest.warns(RuntimeWarning, match="does not match its checksum"):
        assert runtime_library._remembered_digest() == truth


def test_numpy_openblas_is_found_loaded_first():
    """The OpenBLAS copies the loader has (asked with RTLD_NOLOAD) come first, as reading
    /proc/self/maps finds them."""
    import numpy  # noqa: F401 - loads its OpenBLAS
    from cgraph import blas_pointers
    paths = blas_pointers._numpy_openblas_paths()
    mapped = blas_pointers._mapped_openblas()
    if not mapped:
        import pytest
        pytest.skip("numpy does not run on an ILP64 OpenBLAS here")
    assert paths[0] in mapped and set(mapped) <= set(paths)
