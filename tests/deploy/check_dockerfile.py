"""deploy/Dockerfile checked without a container engine (ctest deploy_dockerfile).

CI has no Docker engine, so the image is never built there. This test reads
the Dockerfile instead and checks what a build would get wrong silently:
  - its shape: a build stage and a runtime stage, the runtime stage from a
    -slim image, a numeric non-root USER, no compiler or -dev package at
    runtime, a Release build with the tests off, the build stage's -dev
    packages = the ones cmake/Dependencies.cmake requires;
  - its runtime libraries: the vecmig the test build made (VECMIG_BIN) is
    run through readelf/ldd, each library it links is mapped to its Debian
    package with dpkg -S, and every such package must be installed by the
    runtime stage (or be part of the base image, listed below), and every
    library package the runtime stage installs must be needed. A connector
    that starts linking a new library fails here until the Dockerfile
    installs its runtime package.
The host must run the same Debian release as the Dockerfile's images
(bookworm), so that package names agree.
"""
import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DEPENDENCIES = ROOT / "cmake" / "Dependencies.cmake"

# Packages debian:bookworm-slim already has (essential / apt's own
# dependencies): a library from one of them needs no install line.
BASE_IMAGE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}
# Libraries of the ASan/UBSan test build that a Release build does not link.
SANITIZER_PACKAGES = {"libasan8", "libubsan1", "liblsan0", "libtsan2"}
# Packages the runtime stage installs that are not shared libraries of vecmig.
RUNTIME_EXTRAS = {"ca-certificates"}
BUILD_TOOLS = {"build-essential", "gcc", "g++", "clang", "cmake", "make", "ninja-build",
               "pkg-config", "binutils", "libc6-dev", "cpp"}


def instructions():
    """(INSTRUCTION, argument text) pairs, continuations joined, comments dropped."""
    out, cur = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        s = line.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if cur and s.startswith("#"):
            continue
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        op, _, arg = cur.partition(" ")
        out.append((op.upper(), arg.strip()))
        cur = ""
    assert not cur, "Dockerfile ends inside a line continuation"
    return out


def stages():
    """[{'from': image, 'name': alias, 'ins': [(op, arg), ...]}]"""
    result = []
    for op, arg in instructions():
        if op == "FROM":
            parts = arg.split()
            result.append({"from": parts[0], "name": parts[2] if len(parts) > 2 and parts[1].upper() == "AS"
                           else None, "ins": []})
        else:
            assert result, f"{op} before the first FROM"
            result[-1]["ins"].append((op, arg))
    return result


def apt_installed(stage):
    """Packages the stage's RUN lines pass to apt-get install."""
    pkgs = []
    for op, arg in stage["ins"]:
        if op != "RUN":
            continue
        for cmd in re.split(r"&&|;|\|\|", arg):
            words = shlex.split(cmd)
            if "apt-get" in words and "install" in words:
                rest = words[words.index("install") + 1:]
                pkgs += [w for w in rest if not w.startswith("-")]
    return pkgs


def test_shape():
    st = stages()
    assert len(st) >= 2, "a multi-stage build: build stage + runtime stage"
    build, runtime = st[0], st[-1]
    assert build["name"], "the build stage is named (COPY --from=<name>)"
    assert re.match(r"debian:bookworm(@|$)", build["from"]), build["from"]
    assert re.match(r"debian:bookworm-slim(@|$)", runtime["from"]), f"runtime from a -slim image: {runtime['from']}"
    users = [a for o, a in runtime["ins"] if o == "USER"]
    assert users, "the runtime stage sets USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) > 0, f"USER must be a numeric non-root uid (runAsNonRoot), got {users[-1]}"
    assert not gid or (gid.isdigit() and int(gid) > 0), users[-1]
    ep = [a for o, a in runtime["ins"] if o == "ENTRYPOINT"]
    assert ep and ep[-1].replace(" ", "") in ('["vecmig"]', '["/usr/local/bin/vecmig"]'), ep
    copies = [a for o, a in runtime["ins"] if o == "COPY"]
    assert any(a.startswith(f"--from={build['name']} ") and "vecmig" in a for a in copies), copies
    run_build = " ".join(a for o, a in build["ins"] if o == "RUN")
    assert "-DCMAKE_BUILD_TYPE=Release" in run_build and "-DVECMIG_TESTS=OFF" in run_build


def test_runtime_stage_has_no_build_tools():
    runtime = stages()[-1]
    pkgs = apt_installed(runtime)
    assert pkgs, "the runtime stage installs its libraries with apt-get install"
    bad = [p for p in pkgs if p.endswith("-dev") or p in BUILD_TOOLS]
    assert not bad, f"compiler / -dev packages in the runtime stage: {bad}"
    assert "--no-install-recommends" in " ".join(a for o, a in runtime["ins"] if o == "RUN")


def test_build_stage_has_every_required_dev_package():
    text = DEPENDENCIES.read_text()
    tests_block = text.split("if(VECMIG_TESTS)", 1)
    required = re.findall(r"^vm_require\(\s*\S+\s+\S+\s+(\S+)", tests_block[0], re.M)
    assert "librdkafka-dev" in required, required
    have = set(apt_installed(stages()[0]))
    missing = [p for p in required if p not in have]
    assert not missing, f"cmake/Dependencies.cmake requires {missing}; the build stage does not install it"


def host_codename():
    for line in pathlib.Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip('"')
    return ""


def vecmig_bin():
    b = os.environ.get("VECMIG_BIN") or str(ROOT / "build" / "test" / "cli" / "vecmig")
    assert os.access(b, os.X_OK), f"no vecmig binary at {b} (set VECMIG_BIN to the test build's)"
    return b


def package_of(path):
    """The Debian package owning a library path (usrmerge: try /lib and /usr/lib forms)."""
    real = os.path.realpath(path)
    cands = [path, real]
    for p in (path, real):
        if p.startswith("/lib"):
            cands.append("/usr" + p)
        elif p.startswith("/usr/lib"):
            cands.append(p[4:])
    for c in cands:
        r = subprocess.run(["dpkg-query", "-S", c], capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.split(":", 1)[0].strip()
    return None


def needed_packages(binary):
    """{package: [sonames]} of the libraries the binary links directly."""
    rd = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True, check=True).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", rd)
    assert needed, f"readelf found no NEEDED entries in {binary}"
    ldd = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    where, missing = {}, []
    for line in ldd.splitlines():
        m = re.match(r"\s*(\S+)\s+=>\s+(\S+)", line)
        if m:
            if m.group(2) == "not":
                missing.append(m.group(1))
            else:
                where[m.group(1)] = m.group(2)
    assert not missing, f"ldd: libraries not found on this machine: {missing}"
    pkgs = {}
    for so in needed:
        assert so in where, f"ldd does not resolve {so}"
        pkg = package_of(where[so])
        assert pkg, f"dpkg -S: no package owns {where[so]} ({so})"
        pkgs.setdefault(pkg, []).append(so)
    return pkgs


def test_runtime_stage_installs_every_linked_library():
    codename = host_codename()
    image = stages()[-1]["from"]
    assert codename and codename in image, (
        f"this host runs Debian {codename or '?'}, the runtime image is {image}: "
        "package names are only comparable on the same release")
    needed = needed_packages(vecmig_bin())
    runtime = set(apt_installed(stages()[-1]))
    missing = {p: so for p, so in needed.items()
               if p not in runtime and p not in BASE_IMAGE_PACKAGES and p not in SANITIZER_PACKAGES}
    assert not missing, ("vecmig links libraries the runtime stage does not install: "
                         + ", ".join(f"{p} ({', '.join(so)})" for p, so in sorted(missing.items())))
    unused = sorted(runtime - set(needed) - RUNTIME_EXTRAS)
    assert not unused, f"the runtime stage installs packages vecmig does not link: {unused}"
    # and each of them is a real package name of this release
    for p in runtime - RUNTIME_EXTRAS:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True)
        assert r.returncode == 0 and "installed" in r.stdout, f"{p}: not an installed package here"


def test_library_check_would_catch_a_missing_package(monkeypatch):
    """The check above fails when the Dockerfile forgets one library."""
    real = apt_installed

    def without_rdkafka(stage):
        return [p for p in real(stage) if p != "librdkafka1"]

    monkeypatch.setattr(sys.modules[__name__], "apt_installed", without_rdkafka)
    with pytest.raises(AssertionError, match="librdkafka1"):
        test_runtime_stage_installs_every_linked_library()
