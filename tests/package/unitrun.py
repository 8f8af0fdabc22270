#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""unitrun - run a systemd service unit's commands as systemd would, where
systemd is not PID 1 (containers, CI), for gridlet's package test.

    unitrun.py run --root ROOT --log FILE --status FILE UNIT
    unitrun.py explain UNIT

`run` is a supervisor: it evaluates the unit's conditions, creates its
StateDirectory= (and Runtime/Logs/Cache/ConfigurationDirectory=) with
the unit's owner and mode, runs ExecStartPre=, then ExecStart= (Type=
simple/exec: the main process, whose PID goes to FILE.pid; Type=oneshot:
each command to completion), then ExecStartPost=. On SIGTERM it stops the
service as `systemctl stop` does (KillSignal=, TimeoutStopSec=, then
SIGKILL) and writes the outcome as JSON to --status: result (success,
exit-code, signal, timeout, condition, start-failed), the exit status,
the stop time. Output goes to --log (the journal).

Every command runs in the file system ROOT (chroot) in a mount namespace
of its own, built the way systemd builds it, and with the unit's
credentials and seccomp filters, in systemd's order (mounts, chroot,
groups, bounding set, no_new_privs, uid, umask, seccomp, execve).

Emulated (systemd 252 semantics, man systemd.exec):
  User= Group= SupplementaryGroups= (plus the user's groups, as
  initgroups), WorkingDirectory=, UMask=, Environment=, EnvironmentFile=,
  the variables systemd sets (PATH, HOME, USER, LOGNAME, SHELL,
  INVOCATION_ID, STATE_DIRECTORY, ...), NoNewPrivileges= (also as implied
  by the seccomp options), CapabilityBoundingSet=, AmbientCapabilities=
  (empty only), ProtectSystem= (yes, full, strict), ReadWritePaths=,
  ReadOnlyPaths=, InaccessiblePaths= (a missing path fails the start as
  in systemd, unless prefixed with '-'), StateDirectory= and friends
  (writable under ProtectSystem=strict), PrivateTmp=, ProtectHome=,
  PrivateDevices=, ProtectKernelTunables=, ProtectControlGroups=,
  ProtectKernelModules=, ProtectKernelLogs=, ProtectProc=, ProcSubset=,
  SystemCallFilter= (groups expanded by `systemd-analyze syscall-filter`,
  @default added to allow lists as systemd does), SystemCallErrorNumber=,
  SystemCallArchitectures=native, RestrictAddressFamilies=,
  MemoryDenyWriteExecute=, LockPersonality=, RestrictRealtime=,
  RestrictNamespaces=, RestrictSUIDSGID=, and the system-call halves of
  ProtectClock= and ProtectHostname=; ConditionPathExists=,
  ConditionPathIsDirectory=; Exec prefixes '-', '@', '+', '!'; $VAR and
  ${VAR} in command lines; KillSignal=, TimeoutStopSec=,
  SuccessExitStatus=.

Not emulated (they need systemd itself or cgroups, and are listed by
`explain`): unit ordering and dependencies, Restart=, DevicePolicy= and
DeviceAllow=, MemoryMax= TasksMax= and other resource limits, RemoveIPC=,
the UTS/clock namespaces of ProtectHostname=/ProtectClock=, ExecReload=,
Type=notify/forking, and commands that talk to systemd (systemctl, which
is reported as skipped).
"""

import argparse
import ctypes
import errno
import json
import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
import time

try:
    import seccomp
except ImportError:  # python3-seccomp (scripts/install-deps.sh)
    seccomp = None

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                       ctypes.c_ulong, ctypes.c_char_p]
libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong,
                       ctypes.c_ulong, ctypes.c_ulong]

CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC = 32, 4096, 16384
MS_PRIVATE = 1 << 18
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 24, 38
# Read before any sandbox hides /proc/sys.
with open("/proc/sys/kernel/cap_last_cap") as _f:
    CAP_LAST = int(_f.read())

EMULATED = {
    "Type", "User", "Group", "SupplementaryGroups", "WorkingDirectory",
    "UMask", "Environment", "EnvironmentFile", "NoNewPrivileges",
    "CapabilityBoundingSet", "AmbientCapabilities", "ProtectSystem",
    "ReadWritePaths", "ReadOnlyPaths", "InaccessiblePaths", "StateDirectory",
    "StateDirectoryMode", "RuntimeDirectory", "RuntimeDirectoryMode",
    "LogsDirectory", "LogsDirectoryMode", "CacheDirectory",
    "CacheDirectoryMode", "ConfigurationDirectory",
    "ConfigurationDirectoryMode", "PrivateTmp", "ProtectHome",
    "PrivateDevices", "ProtectKernelTunables", "ProtectControlGroups",
    "ProtectKernelModules", "ProtectKernelLogs", "ProtectProc", "ProcSubset",
    "SystemCallFilter", "SystemCallErrorNumber", "SystemCallArchitectures",
    "RestrictAddressFamilies", "MemoryDenyWriteExecute", "LockPersonality",
    "RestrictRealtime", "RestrictNamespaces", "RestrictSUIDSGID",
    "ProtectClock", "ProtectHostname", "ExecStartPre", "ExecStart",
    "ExecStartPost", "KillSignal", "TimeoutStopSec", "SuccessExitStatus",
    "ConditionPathExists", "ConditionPathIsDirectory", "Description",
    "Documentation",
}


class UnitError(Exception):
    pass


# ---- Parsing ----------------------------------------------------------------

def parse_unit(path):
    """Sections -> list of (key, value), in order; continuation lines."""
    sections, cur = {}, None
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        while line.endswith("\\") and i < len(lines):
            line = line[:-1] + " " + lines[i].strip()
            i += 1
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            cur = sections.setdefault(line[1:-1], [])
            continue
        if cur is None or "=" not in line:
            raise UnitError(f"{path}: cannot parse {line!r}")
        k, v = line.split("=", 1)
        cur.append((k.strip(), v.strip()))
    return sections


def values(sec, key):
    """All assignments of a list setting; an empty one resets the list."""
    out = []
    for k, v in sec:
        if k == key:
            out = [] if v == "" else out + [v]
    return out


def value(sec, key, default=None):
    v = default
    for k, x in sec:
        if k == key:
            v = x
    return v


def boolean(sec, key, default=False):
    v = value(sec, key)
    if v is None:
        return default
    return v.lower() in ("1", "yes", "true", "on")


def seconds(text):
    total, m = 0.0, re.findall(r"(\d+(?:\.\d+)?)\s*(ms|s|min|m|h)?", text)
    for num, unit in m:
        total += float(num) * {"ms": 0.001, "s": 1, "": 1, "min": 60, "m": 60,
                               "h": 3600}[unit or ""]
    return total


def words(vals):
    out = []
    for v in vals:
        out += v.split()
    return out


# ---- System call groups, from systemd itself ---------------------------------

_GROUPS = None


def syscall_groups():
    global _GROUPS
    if _GROUPS is None:
        text = subprocess.run(["systemd-analyze", "syscall-filter"],
                              check=True, capture_output=True,
                              text=True).stdout
        _GROUPS, cur = {}, None
        for line in text.split("\n"):
            if line.startswith("@"):
                cur = _GROUPS.setdefault(line.strip(), [])
            elif cur is not None and line.strip() and \
                    not line.strip().startswith("#"):
                cur.append(line.strip())
    return _GROUPS


def expand(names, seen=None):
    seen = set() if seen is None else seen
    out = set()
    for n in names:
        if n.startswith("@"):
            if n in seen:
                continue
            seen.add(n)
            out |= expand(syscall_groups().get(n, []), seen)
        else:
            out.add(n.split(":")[0])
    return out


def errno_value(name):
    return getattr(errno, name) if not name.isdigit() else int(name)


# ---- Mounts ------------------------------------------------------------------

def at(root, path):
    """`path` inside the root directory `root` ("/" included)."""
    return os.path.normpath(root + "/" + path)


def mount(src, target, fstype, flags, data=None):
    r = libc.mount(src.encode() if src else None, target.encode(),
                   fstype.encode() if fstype else None, flags,
                   data.encode() if data else None)
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"mount {src} {target} ({fstype}): "
                         f"{os.strerror(e)}")


def mounts_under(path):
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].encode().decode("unicode_escape")
            if mp == path or mp.startswith(path.rstrip("/") + "/"):
                out.append(mp)
    return out


def bind_self(path, rec=True):
    mount(path, path, None, MS_BIND | (MS_REC if rec else 0))


def make_ro(path):
    """Read-only, with every mount below it (as systemd does)."""
    bind_self(path)
    for mp in mounts_under(path):
        try:
            mount(None, mp, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
        except OSError:
            # Some API file systems refuse (they are then left as they are,
            # as systemd does for those it cannot remount).
            pass


def make_rw(path):
    bind_self(path)
    mount(None, path, None, MS_REMOUNT | MS_BIND)


def inaccessible(root, path, scratch):
    full = at(root, path)
    if os.path.isdir(full):
        mount("tmpfs", full, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV |
              MS_NOEXEC, "mode=000")
    elif os.path.exists(full):
        node = os.path.join(scratch, "inaccessible")
        if not os.path.exists(node):
            with open(node, "w"):
                pass
            os.chmod(node, 0)
        mount(node, full, None, MS_BIND)
        mount(None, full, None, MS_REMOUNT | MS_BIND | MS_RDONLY)


def paths_of(vals):
    """(path, optional) from ReadWritePaths= style lists ('-' = may be
    missing, '+' = relative to the root: the same here)."""
    out = []
    for p in words(vals):
        opt = False
        while p and p[0] in "-+":
            opt = opt or p[0] == "-"
            p = p[1:]
        out.append((p, opt))
    return out


DIRS = {"StateDirectory": "/var/lib", "RuntimeDirectory": "/run",
        "LogsDirectory": "/var/log", "CacheDirectory": "/var/cache",
        "ConfigurationDirectory": "/etc"}
DIR_ENV = {"StateDirectory": "STATE_DIRECTORY",
           "RuntimeDirectory": "RUNTIME_DIRECTORY",
           "LogsDirectory": "LOGS_DIRECTORY",
           "CacheDirectory": "CACHE_DIRECTORY",
           "ConfigurationDirectory": "CONFIGURATION_DIRECTORY"}


def unit_dirs(svc):
    out = {}
    for key, base in DIRS.items():
        out[key] = [base + "/" + d for d in words(values(svc, key))]
    return out


def setup_mounts(root, svc, scratch):
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    # The root as a mount of its own in this namespace, with everything
    # mounted below it (proc, dev, sys, ...).
    bind_self(root)
    ps = (value(svc, "ProtectSystem", "no") or "no").lower()
    rw = [(p, o) for p, o in paths_of(values(svc, "ReadWritePaths"))]
    for d in unit_dirs(svc).values():
        rw += [(p, False) for p in d]
    ro = paths_of(values(svc, "ReadOnlyPaths"))
    na = paths_of(values(svc, "InaccessiblePaths"))
    for p, opt in rw + ro + na:
        if not os.path.lexists(at(root, p)):
            if opt:
                continue
            # systemd: "Failed to set up mount namespacing: <path>: No such
            # file or directory" (status 226/NAMESPACE).
            raise UnitError(f"failed to set up mount namespacing: {p}: "
                            "No such file or directory")
    # Writable paths first: they stay writable under a read-only parent.
    rw_mounts = [p for p, _ in rw if os.path.lexists(at(root, p))]
    for p in rw_mounts:
        make_rw(at(root, p))
    if ps in ("yes", "true", "full", "strict"):
        if ps == "strict":
            # Everything read-only but the API file systems (/dev, /proc,
            # /sys) and the writable paths, which are mounts of their own.
            keep = [at(root, "/dev"), at(root, "/proc"), at(root, "/sys")] + \
                [at(root, p) for p in rw_mounts]
            for mp in mounts_under(root):
                if any(mp == k or mp.startswith(k + "/") for k in keep):
                    continue
                try:
                    mount(None, mp, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
                except OSError:
                    pass
        else:
            for p in ["/usr", "/boot", "/efi"] + (["/etc"] if ps == "full"
                                                  else []):
                if os.path.isdir(at(root, p)):
                    make_ro(at(root, p))
        # The API file systems stay writable under strict, as in systemd;
        # the writable paths are separate mounts already.
    for p, _ in ro:
        if os.path.lexists(at(root, p)):
            make_ro(at(root, p))
    if boolean(svc, "PrivateTmp"):
        for p in ("/tmp", "/var/tmp"):
            mount("tmpfs", at(root, p), "tmpfs", MS_NOSUID | MS_NODEV,
                  "mode=1777")
    ph = (value(svc, "ProtectHome", "no") or "no").lower()
    for p in ("/home", "/root", "/run/user"):
        if not os.path.isdir(at(root, p)):
            continue
        if ph in ("yes", "true"):
            inaccessible(root, p, scratch)
        elif ph == "read-only":
            make_ro(at(root, p))
        elif ph == "tmpfs":
            mount("tmpfs", at(root, p), "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV,
                  "mode=755")
    if boolean(svc, "PrivateDevices"):
        dev = at(root, "/dev")
        mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755")
        for d in ("pts", "shm"):
            os.makedirs(dev + "/" + d, exist_ok=True)
        for n in ("null", "zero", "full", "random", "urandom", "tty"):
            with open(dev + "/" + n, "w"):
                pass
            mount("/dev/" + n, dev + "/" + n, None, MS_BIND)
        mount("/dev/pts", dev + "/pts", None, MS_BIND | MS_REC)
        mount("tmpfs", dev + "/shm", "tmpfs", MS_NOSUID | MS_NODEV,
              "mode=1777")
        for name, target in (("fd", "/proc/self/fd"),
                             ("stdin", "/proc/self/fd/0"),
                             ("stdout", "/proc/self/fd/1"),
                             ("stderr", "/proc/self/fd/2")):
            os.symlink(target, dev + "/" + name)
    pp = (value(svc, "ProtectProc", "default") or "default").lower()
    subset = (value(svc, "ProcSubset", "all") or "all").lower()
    if pp != "default" or subset == "pid":
        opts = []
        if pp in ("invisible", "noaccess", "ptraceable"):
            opts.append("hidepid=" + pp)
        if subset == "pid":
            opts.append("subset=pid")
        mount("proc", at(root, "/proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              ",".join(opts))
    if boolean(svc, "ProtectKernelTunables"):
        for p in ("/proc/sys", "/proc/sysrq-trigger", "/proc/latency_stats",
                  "/proc/acpi", "/proc/timer_stats", "/proc/asound",
                  "/proc/bus", "/proc/fs", "/proc/irq", "/sys"):
            if os.path.exists(at(root, p)):
                make_ro(at(root, p))
    if boolean(svc, "ProtectControlGroups") and \
            os.path.isdir(at(root, "/sys/fs/cgroup")):
        make_ro(at(root, "/sys/fs/cgroup"))
    if boolean(svc, "ProtectKernelModules"):
        for p in ("/lib/modules", "/usr/lib/modules"):
            if os.path.isdir(at(root, p)) and not os.path.islink(at(root, p)):
                inaccessible(root, p, scratch)
    if boolean(svc, "ProtectKernelLogs"):
        for p in ("/proc/kmsg", "/dev/kmsg"):
            if os.path.exists(at(root, p)):
                inaccessible(root, p, scratch)
    for p, _ in na:
        if os.path.lexists(at(root, p)):
            inaccessible(root, p, scratch)


# ---- seccomp -----------------------------------------------------------------

def seccomp_filters(svc):
    """The filters systemd stacks for the unit, as libseccomp objects."""
    if seccomp is None:
        raise UnitError("python3-seccomp is not installed")
    out = []
    native_only = (value(svc, "SystemCallArchitectures") or "") == "native"

    def new(default):
        f = seccomp.SyscallFilter(defaction=default)
        # A fresh filter knows only the native architecture: calls of any
        # other ABI get the filter's bad-architecture action (kill), which
        # is SystemCallArchitectures=native.
        return f

    def rule(f, action, name, *args):
        try:
            f.add_rule(action, name, *args)
        except (RuntimeError, ValueError, OSError):
            pass  # not a system call of this architecture

    scf = values(svc, "SystemCallFilter")
    if scf:
        errno_name = value(svc, "SystemCallErrorNumber")
        deny = seccomp.ERRNO(errno_value(errno_name)) if errno_name \
            else seccomp.KILL_PROCESS
        allow_mode = not scf[0].startswith("~")
        allowed, denied = set(), set()
        if allow_mode:
            allowed |= expand(["@default"])
        for entry in scf:
            neg = entry.startswith("~")
            names = expand(entry.lstrip("~").split())
            if allow_mode:
                allowed = allowed - names if neg else allowed | names
            else:
                denied = denied | names if neg else denied - names
        if allow_mode:
            main_filter = new(deny)
            for n in sorted(allowed):
                rule(main_filter, seccomp.ALLOW, n)
        else:
            main_filter = new(seccomp.ALLOW)
            for n in sorted(denied):
                rule(main_filter, deny, n)
    elif native_only:
        main_filter = new(seccomp.ALLOW)
    else:
        main_filter = None

    raf = values(svc, "RestrictAddressFamilies")
    if raf:
        fams = words(raf)
        neg = fams and fams[0].startswith("~")
        fams = {getattr(__import__("socket"), a.lstrip("~"), None)
                for a in fams}
        fams.discard(None)
        f = new(seccomp.ALLOW)
        bad = seccomp.ERRNO(errno.EAFNOSUPPORT)
        for af in range(0, 64):
            if (af in fams) == (not neg):
                continue
            rule(f, bad, "socket", seccomp.Arg(0, seccomp.EQ, af))
        if not neg:
            rule(f, bad, "socket", seccomp.Arg(0, seccomp.GE, 64))
        out.append(f)

    eperm = seccomp.ERRNO(errno.EPERM)
    if boolean(svc, "MemoryDenyWriteExecute"):
        f = new(seccomp.ALLOW)
        wx = 0x2 | 0x4  # PROT_WRITE | PROT_EXEC
        for n in ("mmap", "mmap2"):
            rule(f, eperm, n, seccomp.Arg(2, seccomp.MASKED_EQ, wx, wx))
        for n, a in (("mprotect", 2), ("pkey_mprotect", 2)):
            rule(f, eperm, n, seccomp.Arg(a, seccomp.MASKED_EQ, 0x4, 0x4))
        rule(f, eperm, "shmat", seccomp.Arg(2, seccomp.MASKED_EQ, 0o100000,
                                           0o100000))
        out.append(f)
    if boolean(svc, "LockPersonality"):
        f = new(seccomp.ALLOW)
        rule(f, eperm, "personality", seccomp.Arg(0, seccomp.NE, 0))
        out.append(f)
    if boolean(svc, "RestrictRealtime"):
        f = new(seccomp.ALLOW)
        for pol in (1, 2, 6):  # SCHED_FIFO, SCHED_RR, SCHED_DEADLINE
            rule(f, eperm, "sched_setscheduler",
                 seccomp.Arg(1, seccomp.EQ, pol))
        rule(f, eperm, "sched_setscheduler", seccomp.Arg(1, seccomp.GT, 6))
        out.append(f)
    rn = (value(svc, "RestrictNamespaces", "no") or "no").lower()
    if rn in ("yes", "true"):
        f = new(seccomp.ALLOW)
        flags = [0x00020000, 0x02000000, 0x04000000, 0x08000000,
                 0x10000000, 0x20000000, 0x40000000, 0x00000080]
        for fl in flags:
            rule(f, eperm, "unshare", seccomp.Arg(0, seccomp.MASKED_EQ, fl,
                                                  fl))
            rule(f, eperm, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, fl, fl))
        rule(f, eperm, "setns")
        # glibc falls back to clone when clone3 is missing (systemd's way).
        rule(f, seccomp.ERRNO(errno.ENOSYS), "clone3")
        out.append(f)
    if boolean(svc, "RestrictSUIDSGID"):
        f = new(seccomp.ALLOW)
        for bit in (0o4000, 0o2000):
            for n, a in (("chmod", 1), ("fchmod", 1), ("fchmodat", 2),
                         ("mkdir", 1), ("mkdirat", 2), ("mknod", 1),
                         ("mknodat", 2), ("creat", 1)):
                rule(f, eperm, n, seccomp.Arg(a, seccomp.MASKED_EQ, bit, bit))
            rule(f, eperm, "open", seccomp.Arg(1, seccomp.MASKED_EQ, 0o100,
                                               0o100),
                 seccomp.Arg(2, seccomp.MASKED_EQ, bit, bit))
            rule(f, eperm, "openat", seccomp.Arg(2, seccomp.MASKED_EQ, 0o100,
                                                 0o100),
                 seccomp.Arg(3, seccomp.MASKED_EQ, bit, bit))
        out.append(f)
    groups = []
    if boolean(svc, "ProtectClock"):
        groups.append("@clock")
    if boolean(svc, "ProtectKernelModules"):
        groups.append("@module")
    if boolean(svc, "ProtectKernelLogs"):
        groups.append("syslog")
    if boolean(svc, "ProtectHostname"):
        groups += ["sethostname", "setdomainname"]
    if groups:
        f = new(seccomp.ALLOW)
        for n in sorted(expand(groups)):
            rule(f, eperm, n)
        out.append(f)
    # The system call filter goes last, as in systemd: the filters loaded
    # before it need seccomp(2), which it may forbid.
    if main_filter is not None:
        out.append(main_filter)
    return out


def needs_nnp(svc):
    """systemd implies NoNewPrivileges= for these when not running as root
    with CAP_SYS_ADMIN."""
    implied = ("SystemCallFilter", "SystemCallArchitectures",
               "RestrictAddressFamilies", "MemoryDenyWriteExecute",
               "LockPersonality", "RestrictRealtime", "RestrictSUIDSGID",
               "ProtectKernelModules", "ProtectKernelLogs", "ProtectClock",
               "ProtectHostname")
    if boolean(svc, "NoNewPrivileges"):
        return True
    user = value(svc, "User")
    if user and user != "root":
        return any(value(svc, k) not in (None, "", "no") for k in implied) \
            or (value(svc, "RestrictNamespaces", "no") or "no") != "no"
    return False


# ---- Commands ----------------------------------------------------------------

def command_lines(svc, key):
    out = []
    for line in values(svc, key):
        flags = ""
        while line and line[0] in "-@+!:":
            flags += line[0]
            line = line[1:]
        argv = shlex.split(line)
        out.append((flags, argv))
    return out


def substitute(argv, env, extra):
    allenv = dict(env)
    allenv.update(extra)
    out = []
    for w in argv:
        m = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", w)
        if m:  # "$FOO" alone: split into words, as systemd does
            out += allenv.get(m.group(1), "").split()
            continue
        out.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}",
                          lambda mm: allenv.get(mm.group(1), ""), w))
    return out


def read_passwd(root, user):
    with open(at(root, "/etc/passwd")) as f:
        for line in f:
            p = line.rstrip("\n").split(":")
            if p[0] == user or (user.isdigit() and p[2] == user):
                return p
    raise UnitError(f"User={user}: no such user in {root}/etc/passwd")


def read_groups(root):
    out = {}
    with open(at(root, "/etc/group")) as f:
        for line in f:
            p = line.rstrip("\n").split(":")
            out[p[0]] = (int(p[2]), p[3].split(",") if p[3] else [])
    return out


def environment(root, svc, unit_name):
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
                   "/sbin:/bin",
           "INVOCATION_ID": secrets.token_hex(16)}
    user = value(svc, "User")
    if user:
        pw = read_passwd(root, user)
        env.update({"USER": pw[0], "LOGNAME": pw[0], "HOME": pw[5],
                    "SHELL": pw[6]})
    for key, envname in DIR_ENV.items():
        ds = unit_dirs(svc)[key]
        if ds:
            env[envname] = ":".join(ds)
    for ef in values(svc, "EnvironmentFile"):
        opt = ef.startswith("-")
        path = at(root, ef.lstrip("-"))
        if not os.path.exists(path):
            if opt:
                continue
            raise UnitError(f"EnvironmentFile={ef}: missing")
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line and line[0] not in "#;" and "=" in line:
                    k, v = line.split("=", 1)
                    env[k.strip()] = v.strip().strip('"')
    for e in values(svc, "Environment"):
        for kv in shlex.split(e):
            k, v = kv.split("=", 1)
            env[k] = v
    return env


def credentials(root, svc):
    user = value(svc, "User")
    if not user:
        return None
    pw = read_passwd(root, user)
    uid, gid = int(pw[2]), int(pw[3])
    groups = read_groups(root)
    gname = value(svc, "Group")
    if gname:
        if gname not in groups:
            raise UnitError(f"Group={gname}: no such group")
        gid = groups[gname][0]
    # initgroups(): every group listing the user, then SupplementaryGroups=.
    gids = {gid} | {g for g, members in groups.values() if pw[0] in members}
    for s in words(values(svc, "SupplementaryGroups")):
        if s not in groups:
            raise UnitError(f"SupplementaryGroups={s}: no such group")
        gids.add(groups[s][0])
    return uid, gid, sorted(gids)


def exec_child(root, svc, flags, argv, env, log_fd, scratch):
    """In the forked child: sandbox, then execve. Never returns."""
    try:
        os.setsid()
        devnull = os.open("/dev/null", os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        full = "+" in flags or "!" in flags  # full privileges, no sandbox
        if libc.unshare(CLONE_NEWNS) != 0:
            raise OSError(ctypes.get_errno(), "unshare")
        if not full:
            setup_mounts(root, svc, scratch)
        else:
            mount(None, "/", None, MS_REC | MS_PRIVATE)
        filters = [] if full else seccomp_filters(svc)
        creds = None if full else credentials(root, svc)
        os.chroot(root)
        wd = value(svc, "WorkingDirectory")
        if wd == "~":
            wd = env.get("HOME", "/")
        os.chdir(wd.lstrip("-") if wd else "/")
        if not full:
            cbs = values(svc, "CapabilityBoundingSet")
            if value(svc, "CapabilityBoundingSet") == "":
                for cap in range(CAP_LAST + 1):
                    libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
            elif cbs:
                raise UnitError("only an empty CapabilityBoundingSet= is "
                                "emulated")
            if needs_nnp(svc) and \
                    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "no_new_privs")
            if creds:
                uid, gid, gids = creds
                os.setgroups(gids)
                os.setresgid(gid, gid, gid)
                os.setresuid(uid, uid, uid)
        umask = value(svc, "UMask")
        os.umask(int(umask, 8) if umask else 0o022)
        for f in filters:
            f.load()
        path = argv[0]
        args = argv[1:] if "@" in flags else argv
        os.execve(path, args, env)
    except BaseException as e:  # report like systemd: status 203/EXEC etc.
        os.write(2, f"unitrun: cannot start {argv[0]}: {e}\n".encode())
        os._exit(203)


def spawn(root, svc, flags, argv, env, log_fd, scratch):
    pid = os.fork()
    if pid == 0:
        exec_child(root, svc, flags, argv, env, log_fd, scratch)
    return pid


def describe(status):
    if os.WIFEXITED(status):
        return "exit-code", os.WEXITSTATUS(status)
    return "signal", os.WTERMSIG(status)


def success_codes(svc):
    codes = {0}
    for w in words(values(svc, "SuccessExitStatus")):
        if w.isdigit():
            codes.add(int(w))
    return codes


# ---- The supervisor ----------------------------------------------------------

def prepare_dirs(root, svc):
    creds = credentials(root, svc)
    for key, ds in unit_dirs(svc).items():
        mode = int(value(svc, key + "Mode", "0755"), 8)
        for d in ds:
            full = at(root, d)
            os.makedirs(full, exist_ok=True)
            if creds:
                os.chown(full, creds[0], creds[1])
            os.chmod(full, mode)


def conditions_hold(root, svc, unit):
    for k, v in unit.get("Unit", []):
        if k not in ("ConditionPathExists", "ConditionPathIsDirectory"):
            continue
        neg = v.startswith("!")
        p = at(root, v.lstrip("!"))
        ok = os.path.exists(p) if k == "ConditionPathExists" \
            else os.path.isdir(p)
        if ok == neg:
            return False, f"{k}={v}"
    return True, ""


def run(args):
    unit = parse_unit(args.unit)
    svc = unit.get("Service", [])
    name = os.path.basename(args.unit)
    root = os.path.realpath(args.root)
    log_fd = os.open(args.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    scratch = os.path.dirname(os.path.realpath(args.status))
    status = {"unit": name, "result": None}

    def finish(**kw):
        status.update(kw)
        with open(args.status + ".tmp", "w") as f:
            json.dump(status, f)
        os.rename(args.status + ".tmp", args.status)
        print(f"unitrun: {name}: {json.dumps(status)}", flush=True)
        sys.exit(0)

    stop_requested = []
    signal.signal(signal.SIGTERM, lambda s, f: stop_requested.append(1))
    syscall_groups()  # before any fork: the children cannot run it
    ok, why = conditions_hold(root, svc, unit)
    if not ok:
        finish(result="condition", condition=why)
    env = environment(root, svc, name)
    try:
        prepare_dirs(root, svc)
    except (OSError, UnitError) as e:
        finish(result="start-failed", error=str(e))

    def run_to_end(key):
        for flags, argv in command_lines(svc, key):
            if os.path.basename(argv[0]) == "systemctl":
                print(f"unitrun: {name}: {key}={' '.join(argv)} skipped "
                      "(talks to systemd, which is not running here)",
                      flush=True)
                status.setdefault("skipped", []).append(" ".join(argv))
                continue
            argv = substitute(argv, env, {})
            try:
                pid = spawn(root, svc, flags, argv, env, log_fd, scratch)
            except (OSError, UnitError) as e:
                return "start-failed", str(e)
            _, st = os.waitpid(pid, 0)
            kind, code = describe(st)
            if not (kind == "exit-code" and code in success_codes(svc)) \
                    and "-" not in flags:
                return kind, code
        return None

    # Mount namespace set-up errors (a missing ReadWritePaths=) surface when
    # the first command starts; check them here for a clear message.
    try:
        probe = os.fork()
        if probe == 0:
            try:
                libc.unshare(CLONE_NEWNS)
                setup_mounts(root, svc, scratch)
                os._exit(0)
            except BaseException as e:
                os.write(2, f"unitrun: {name}: {e}\n".encode())
                os._exit(226)
        _, st = os.waitpid(probe, 0)
        if not os.WIFEXITED(st) or os.WEXITSTATUS(st) != 0:
            finish(result="start-failed", error="226/NAMESPACE")
    except OSError as e:
        finish(result="start-failed", error=str(e))

    r = run_to_end("ExecStartPre")
    if r:
        finish(result="start-failed", step="ExecStartPre", kind=r[0],
               code=r[1])
    typ = value(svc, "Type", "simple")
    if typ == "oneshot":
        r = run_to_end("ExecStart") or run_to_end("ExecStartPost")
        if r:
            finish(result=r[0], code=r[1])
        finish(result="success", code=0)
    if typ not in ("simple", "exec"):
        finish(result="start-failed", error=f"Type={typ} is not emulated")
    cmds = command_lines(svc, "ExecStart")
    if len(cmds) != 1:
        finish(result="start-failed", error="one ExecStart= expected")
    flags, argv = cmds[0]
    argv = substitute(argv, env, {})
    main = spawn(root, svc, flags, argv, env, log_fd, scratch)
    with open(args.status + ".pid", "w") as f:
        f.write(f"{main}\n")
    r = run_to_end("ExecStartPost")
    if r:
        os.kill(main, signal.SIGKILL)
        os.waitpid(main, 0)
        finish(result="start-failed", step="ExecStartPost", kind=r[0],
               code=r[1])
    print(f"unitrun: {name}: started, main PID {main}", flush=True)
    while True:
        pid, st = os.waitpid(main, os.WNOHANG)
        if pid == main:
            kind, code = describe(st)
            ok = kind == "exit-code" and code in success_codes(svc)
            finish(result="exited", kind=kind, code=code, ok=ok)
        if stop_requested:
            break
        time.sleep(0.05)
    sig = getattr(signal, value(svc, "KillSignal", "SIGTERM"))
    timeout = seconds(value(svc, "TimeoutStopSec", "90s"))
    t0 = time.monotonic()
    os.kill(main, sig)
    while time.monotonic() - t0 < timeout:
        pid, st = os.waitpid(main, os.WNOHANG)
        if pid == main:
            kind, code = describe(st)
            clean = kind == "exit-code" and code in success_codes(svc)
            finish(result="success" if clean else kind, kind=kind, code=code,
                   stop_seconds=round(time.monotonic() - t0, 3))
        time.sleep(0.02)
    os.killpg(main, signal.SIGKILL)
    os.waitpid(main, 0)
    finish(result="timeout", stop_seconds=timeout)


def explain(args):
    unit = parse_unit(args.unit)
    for sec in ("Unit", "Service"):
        for k, v in unit.get(sec, []):
            mark = "emulated" if k in EMULATED else "NOT emulated"
            print(f"{mark:12} {k}={v}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--root", required=True)
    r.add_argument("--log", required=True)
    r.add_argument("--status", required=True)
    r.add_argument("unit")
    e = sub.add_parser("explain")
    e.add_argument("unit")
    args = ap.parse_args()
    try:
        (run if args.cmd == "run" else explain)(args)
    except UnitError as e:
        print(f"unitrun: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
