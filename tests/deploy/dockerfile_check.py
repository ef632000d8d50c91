#!/usr/bin/env python3
"""Static checks of deploy/Dockerfile (container_test.sh builds and runs the image for real).

usage: dockerfile_check.py REPO_ROOT SMTP_EXPORTER_BINARY

- the build stage installs exactly the build packages of scripts/install-deps (less the test-only
  GoogleTest packages: the image builds with SMTP_EXPORTER_TESTS=OFF);
- every package of both stages exists in Debian 12's archive (apt-cache show);
- the runtime packages cover every shared library that `ldd` lists for the built binary (each
  library mapped to its package with dpkg -S), and hold no -dev package;
- the image runs as a numeric non-root user, has a HEALTHCHECK, reads its config from
  /etc/smtp_exporter/smtp_exporter.yml, every COPY source exists and passes the dockerignore;
- dockerfile-utils (the linter behind VS Code's Dockerfile support, from tests/deploy/node_modules)
  reports no problem.
Exit 0 = pass, 1 = fail, 77 = skipped (dpkg/apt-cache/ldd missing or no apt package lists).
"""
import fnmatch
import glob
import os
import re
import shlex
import shutil
import subprocess
import sys

TEST_ONLY_BUILD_PACKAGES = {"libgtest-dev", "libgmock-dev"}
failures = []


def fail(message):
    failures.append(message)
    print("FAIL " + message)


def ok(message):
    print("ok   " + message)


def instructions(text):
    """Dockerfile instructions as (KEYWORD, arguments), continuation lines joined."""
    result, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        keyword, _, args = current.partition(" ")
        result.append((keyword.upper(), args.strip()))
        current = ""
    return result


def stages(instrs):
    """[(from_args, [instructions])] per FROM."""
    out = []
    for keyword, args in instrs:
        if keyword == "FROM":
            out.append((args, []))
        elif out:
            out[-1][1].append((keyword, args))
    return out


def apt_packages(stage_instrs):
    packages = []
    for keyword, args in stage_instrs:
        if keyword != "RUN":
            continue
        for command in re.split(r"&&|;", args):
            words = shlex.split(command)
            while words and "=" in words[0]:
                words.pop(0)  # VAR=value prefixes
            if len(words) >= 2 and words[0] in ("apt-get", "apt") and "install" in words:
                after = words[words.index("install") + 1:]
                packages += [w for w in after if not w.startswith("-")]
    return packages


def install_deps_build_packages(path):
    text = open(path, encoding="utf-8").read()
    block = re.search(r"packages=\((.*?)\n\)", text, re.S).group(1)
    section, build = None, []
    for line in block.splitlines():
        line = line.strip()
        if line.startswith("#"):
            section = "build" if line.startswith("# build") else "other"
            continue
        if section == "build":
            build += line.split()
    return build


def package_of(library):
    candidates = {library, os.path.realpath(library)}
    for path in list(candidates):
        if path.startswith("/usr/"):
            candidates.add(path[4:])
        else:
            candidates.add("/usr" + path)
    for path in candidates:
        result = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
        if result.returncode == 0:
            return result.stdout.split(":")[0].split(",")[0].strip()
    return None


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    root, binary = sys.argv[1], sys.argv[2]
    for tool in ("dpkg", "apt-cache", "ldd"):
        if not shutil.which(tool):
            print(f"{tool} not found; skipping")
            return 77
    if not glob.glob("/var/lib/apt/lists/*_Packages*"):
        print("no apt package lists (run apt-get update); skipping")
        return 77

    dockerfile = os.path.join(root, "deploy", "Dockerfile")
    text = open(dockerfile, encoding="utf-8").read()
    all_stages = stages(instructions(text))
    if len(all_stages) != 2:
        fail(f"expected 2 stages (build, runtime), found {len(all_stages)}")
        return 1
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", text, re.M))
    for from_args, _ in all_stages:
        image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), from_args.split()[0])
        if image != "debian:bookworm-slim":
            fail(f"stage FROM {from_args} is {image!r}, want debian:bookworm-slim")
    ok("both stages are debian:bookworm-slim")

    build_stage, runtime_stage = all_stages[0][1], all_stages[1][1]
    build_packages = apt_packages(build_stage)
    runtime_packages = apt_packages(runtime_stage)

    want = [p for p in install_deps_build_packages(os.path.join(root, "scripts", "install-deps"))
            if p not in TEST_ONLY_BUILD_PACKAGES]
    if not want:
        fail("found no build packages in scripts/install-deps")
    elif sorted(set(build_packages)) != sorted(set(want)):
        fail("build stage packages differ from scripts/install-deps' build packages: "
             f"missing {sorted(set(want) - set(build_packages))}, "
             f"extra {sorted(set(build_packages) - set(want))}")
    else:
        ok(f"build stage installs the {len(want)} build packages of scripts/install-deps")

    for package in sorted(set(build_packages + runtime_packages)):
        result = subprocess.run(["apt-cache", "show", "--no-all-versions", package],
                                capture_output=True, text=True)
        if result.returncode != 0 or not result.stdout.strip():
            fail(f"package {package} is not in the apt archive")
    ok(f"all {len(set(build_packages + runtime_packages))} packages exist in the archive")

    ldd = subprocess.run(["ldd", binary], capture_output=True, text=True)
    if ldd.returncode != 0:
        fail(f"ldd {binary} failed: {ldd.stderr.strip()}")
    needed = {}
    for line in ldd.stdout.splitlines():
        m = re.match(r"\s*(\S+) => (/\S+)", line)
        if m:
            needed[m.group(1)] = package_of(m.group(2))
    if not needed:
        fail("ldd listed no libraries")
    for library, package in sorted(needed.items()):
        if package is None:
            fail(f"{library}: no Debian package owns it")
        elif package not in runtime_packages:
            fail(f"{library} comes from {package}, which the runtime stage does not install")
    ok("runtime packages cover ldd: " +
       ", ".join(f"{lib}->{pkg}" for lib, pkg in sorted(needed.items())))
    dev = [p for p in runtime_packages if p.endswith("-dev")]
    if dev:
        fail(f"runtime stage installs development packages {dev}")
    if "ca-certificates" not in runtime_packages:
        fail("runtime stage lacks ca-certificates (TLS verification needs the CA bundle)")

    users = [a for k, a in runtime_stage if k == "USER"]
    if not users or not re.fullmatch(r"[1-9]\d*(:\d+)?", users[-1]):
        fail(f"runtime USER must be a numeric non-root uid, got {users}")
    else:
        ok(f"runs as numeric non-root user {users[-1]}")
    health = [a for k, a in runtime_stage if k == "HEALTHCHECK"]
    if not health or "NONE" in health[-1]:
        fail("no HEALTHCHECK")
    else:
        ok("HEALTHCHECK: " + health[-1])
    cmd = " ".join(a for k, a in runtime_stage if k in ("CMD", "ENTRYPOINT"))
    if "--config.file=/etc/smtp_exporter/smtp_exporter.yml" not in cmd:
        fail("CMD does not read /etc/smtp_exporter/smtp_exporter.yml")
    else:
        ok("config at /etc/smtp_exporter/smtp_exporter.yml")

    ignore_path = os.path.join(root, "deploy", "Dockerfile.dockerignore")
    patterns = [l.strip() for l in open(ignore_path, encoding="utf-8")
                if l.strip() and not l.startswith("#")]

    def ignored(path):
        result = False
        for pattern in patterns:
            negate = pattern.startswith("!")
            pattern = pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
                result = not negate
        return result

    for stage_instrs in (build_stage, runtime_stage):
        for keyword, args in stage_instrs:
            if keyword not in ("COPY", "ADD"):
                continue
            words = [w for w in shlex.split(args) if not w.startswith("--")]
            if any(a.startswith("--from") for a in shlex.split(args)):
                continue
            for source in words[:-1]:
                source = source.rstrip("/")
                if not os.path.exists(os.path.join(root, source)):
                    fail(f"COPY source {source} does not exist")
                elif ignored(source):
                    fail(f"COPY source {source} is excluded by Dockerfile.dockerignore")
    ok("COPY sources exist and are in the build context")

    lint = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dockerfile_lint.js")
    modules = os.path.join(os.path.dirname(lint), "node_modules", "dockerfile-utils")
    if shutil.which("node") and os.path.isdir(modules):
        result = subprocess.run(["node", lint, dockerfile], capture_output=True, text=True)
        print(result.stdout, end="")
        if result.returncode != 0:
            fail("dockerfile-utils reported problems:\n" + result.stderr)
    else:
        print("note dockerfile-utils not installed (npm ci in tests/deploy); lint not run")

    print(f"{len(failures)} failed" if failures else "all Dockerfile checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
