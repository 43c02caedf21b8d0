#!/usr/bin/env python3
"""Write hostile archives for tests/export_hostile.rs with Python's tarfile.

usage: hostile.py OUTDIR BASE
BASE is the test's scratch directory: BASE/canary is the file that must stay untouched,
BASE/outside/ a directory outside the target, and the target is BASE/root (a sibling
BASE/root-sibling/ shares its prefix). Each archive is OUTDIR/NN-name.tar.
"""
import io, json, hashlib, os, sys, tarfile

out, base = sys.argv[1], sys.argv[2]
canary = os.path.join(base, "canary")
outside = os.path.join(base, "outside")
sibling = os.path.join(base, "root-sibling")


def member(name, kind="file", data=b"pwned\n", link=None, mode=0o644):
    t = tarfile.TarInfo(name)
    t.mode = mode
    if kind == "file":
        t.size = len(data)
        return t, io.BytesIO(data)
    t.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE}[kind]
    if link is not None:
        t.linkname = link
    return t, None


def tar_bytes(members, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for t, f in members:
            tf.addfile(t, f)
    return buf.getvalue()


def write(name, members, fmt=tarfile.PAX_FORMAT):
    with open(os.path.join(out, name + ".tar"), "wb") as f:
        f.write(tar_bytes(members, fmt))


def docker_save(name, layers, manifest_layers=None):
    """A docker save archive whose layers are the given member lists."""
    blobs = [tar_bytes(l) for l in layers]
    ids = [hashlib.sha256(b).hexdigest() for b in blobs]
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                      "rootfs": {"type": "layers", "diff_ids": ["sha256:" + i for i in ids]}}).encode()
    cid = hashlib.sha256(cfg).hexdigest()
    paths = manifest_layers or [f"{i}/layer.tar" for i in ids]
    manifest = json.dumps([{"Config": cid + ".json", "RepoTags": ["hostile:1"], "Layers": paths}]).encode()
    members = [member(cid + ".json", data=cfg)]
    for i, b in zip(ids, blobs):
        members.append(member(f"{i}/layer.tar", data=b))
    members.append(member("manifest.json", data=manifest))
    write(name, members)


cases = {
    "01-dotdot-file": [member("../canary")],
    "02-dotdot-deep": [member("a/../../canary")],
    "03-dot-dotdot": [member("./../canary")],
    "04-dotdot-dir": [member("../outside/newdir", "dir")],
    "05-dotdot-symlink-name": [member("../outside/link", "sym", link="/etc/passwd")],
    "06-dotdot-hardlink-name": [member("f"), member("../outside/hard", "hard", link="f")],
    "07-symlink-climb-chain": [member("a", "sym", link=".."), member("a/b", "sym", link="../canary"), member("a/b")],
    "08-symlink-absolute-parent": [member("s", "sym", link="/"), member("s" + base + "/canary")],
    "09-symlink-to-outside-dir": [member("s", "sym", link=outside), member("s/new")],
    "10-symlink-relative-climb": [member("s", "sym", link="../../../../../../.." + base), member("s/canary")],
    "11-symlink-chain-3": [member("a", "sym", link="b"), member("b", "sym", link="c"), member("c", "sym", link=".."), member("a/canary")],
    "12-hardlink-dotdot": [member("h", "hard", link="../canary")],
    "13-hardlink-absolute": [member("h", "hard", link=canary)],
    "14-hardlink-prefix-sibling": [member("h", "hard", link="../root-sibling/canary")],
    "15-hardlink-through-symlink": [member("s", "sym", link=base), member("h", "hard", link="s/canary")],
    "16-file-over-symlink": [member("s", "sym", link=canary), member("s")],
    "17-dir-over-symlink": [member("d", "sym", link=outside), member("d", "dir", mode=0o777), member("d/new")],
    "18-symlink-named-dot": [member(".", "sym", link=outside)],
    "19-symlink-named-slash": [member("/", "sym", link=outside)],
    "21-gnu-longname-dotdot": ([member("x" * 120 + "/../../canary")], tarfile.GNU_FORMAT),
    "22-pax-path-dotdot": ([member("p" * 150 + "/../../../canary")], tarfile.PAX_FORMAT),
    "23-file-under-file": [member("f"), member("f/x")],
    "24-symlink-dotdot-in-middle": [member("s", "sym", link="."), member("s/s/../../canary")],
    "25-dir-dotdot-then-file": [member("d/..", "dir"), member("d/../../canary")],
}


def with_data(name, kind, link=None):
    """A non-file entry whose header claims data: the data is another entry's header, which
    GNU tar or Python read as the next member where the tar crate skips it."""
    t, _ = member(name, kind, link=link)
    hidden = tarfile.TarInfo("hidden").tobuf(tarfile.USTAR_FORMAT)
    t.size = len(hidden)
    return t, io.BytesIO(hidden)


def pax_sparse():
    """A file in GNU tar's PAX sparse format 1.0: its data starts with the map of holes."""
    data = b"1\n0\n3\nabc"
    t = tarfile.TarInfo("GNUSparseFile.0/f")
    t.size = len(data)
    t.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                     "GNU.sparse.name": "f", "GNU.sparse.realsize": "3"}
    return t, io.BytesIO(data)


cases["31-symlink-with-data"] = [with_data("s", "sym", link="x")]
cases["32-dir-with-data"] = [with_data("d", "dir")]
cases["33-hardlink-with-data"] = [member("f"), with_data("h", "hard", link="f")]
cases["34-pax-sparse-1.0"] = [pax_sparse()]
# Contained, not refused: these are legal tar, and stay inside the target (the test checks
# the canary and that the entry landed inside).
cases["c1-hardlink-to-symlink-then-write"] = [member("s", "sym", link=canary), member("h", "hard", link="s"), member("h")]
cases["c2-absolute-name"] = [member(canary)]
cases["c3-absolute-symlink-left-dangling"] = [member("etc", "dir"), member("etc/passwd", "sym", link=canary)]
for name, spec in cases.items():
    if isinstance(spec, tuple):
        write(name, spec[0], spec[1])
    else:
        write(name, spec)

# Layered (docker save) cases: whiteouts.
docker_save("26-whiteout-dotdot", [[member("a", "dir")], [member("a/.wh...")]])
docker_save("27-whiteout-through-symlink", [[member("s", "sym", link=base)], [member("s/.wh.canary")]])
docker_save("28-opaque-through-symlink", [[member("s", "sym", link=outside)], [member("s/.wh..wh..opq")]])
docker_save("29-whiteout-parent-dotdot", [[member("a", "dir")], [member("../.wh.canary")]])
docker_save("30-layer-path-escapes", [[member("ok")]], manifest_layers=["../canary"])
