#!/bin/sh
# The checks run inside the test VM (tests/vm/init starts this): glassbox's cgroup limits
# as the kernel enforces them on this boot's layout ($1: v2 or v1). Each check prints one
# line on the serial console, `GBVM PASS name` or `GBVM FAIL name: why` followed by what
# glassbox printed; tests/vm_cgroup2.rs reads them.
#
# $2 is the test-only switch that shows the suite can fail: `memory` asks glassbox for a
# 256m limit where every memory check expects 32m (as a broken limit write would leave
# it), so memory.max, the OOM kill and its report come out wrong.
layout=$1 broken=$2
export GLASSBOX_DATA_DIR=/tmp/gb/data GLASSBOX_STATE_DIR=/tmp/gb/state NO_COLOR=1
mem=32m
[ "$broken" = memory ] && mem=256m
out=/tmp/out err=/tmp/err

# A line of its own for the first report, after the firmware's escape sequences.
echo
pass() { echo "GBVM PASS $1"; }
fail() {
    echo "GBVM FAIL $1: $2"
    sed 's/^/  stdout: /' $out
    tail -n 25 $err | sed 's/^/  stderr: /'
}
# want NAME TEXT FILE: FILE holds TEXT.
want() {
    if grep -qF -- "$2" "$3"; then pass "$1"; else fail "$1" "no \"$2\" in $(basename "$3")"; fi
}
# want_line NAME REGEX FILE: a whole line of FILE matches REGEX (extended).
want_line() {
    if grep -qxE -- "$2" "$3"; then pass "$1"; else fail "$1" "no line /$2/ in $(basename "$3")"; fi
}
# status NAME WANTED GOT
status() {
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "exit status $3, wanted $2"; fi
}
# gb ARGS...: glassbox, its stdout in $out and stderr in $err, its status in $rc.
gb() {
    glassbox "$@" >$out 2>$err
    rc=$?
}
# The file of a controller inside the container, as its own /sys/fs/cgroup shows it.
if [ "$layout" = v2 ]; then
    memmax=/sys/fs/cgroup/memory.max
    pidsmax=/sys/fs/cgroup/pids.max
    cpumax=/sys/fs/cgroup/cpu.max
    cpustat=/sys/fs/cgroup/cpu.stat
    cgroot="0::/"
    # Where the host keeps a cgroup's memory limit: memctl is the controller field of
    # its line in /proc/self/cgroup (empty on v2), memdir the hierarchy's directory.
    memctl= memdir= memfile=memory.max
else
    memmax=/sys/fs/cgroup/memory/memory.limit_in_bytes
    pidsmax=/sys/fs/cgroup/pids/pids.max
    cpumax=/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us
    cpustat=/sys/fs/cgroup/cpu,cpuacct/cpu.stat
    cgroot="[0-9]+:memory:/"
    memctl=memory memdir=/memory memfile=memory.limit_in_bytes
fi

# doctor names the layout and finds every controller on it.
gb doctor
if [ "$layout" = v2 ]; then
    want doctor-layout "cgroup layout: cgroup v2 (unified) at /sys/fs/cgroup" $out
    for c in memory pids cpu; do
        want "doctor-$c" "$c controller: cgroup v2 at /sys/fs/cgroup" $out
    done
else
    want doctor-layout "cgroup layout: cgroup v1" $out
    for c in memory pids cpu; do
        want "doctor-$c" "$c controller: cgroup v1" $out
    done
fi

# --memory: the limit as the kernel holds it, then an allocation past it (awk doubling a
# string to 64 MiB) killed by the OOM killer, which glassbox reports from memory.events.
gb run --rm --memory $mem busybox cat $memmax
want_line memory-limit 33554432 $out
gb run --rm --memory $mem busybox awk 'BEGIN { s = "x"; for (i = 0; i < 26; i++) s = s s; print length(s) }'
status memory-oom-status 137 $rc
want memory-oom-report "the OOM killer killed 1 process in the cgroup (memory limit 32.0 MiB reached)" $err

# The cgroup stage alone (glassbox cgroup), as the lessons use it: the command runs in a
# cgroup under glassbox's with the limit written there.
gb cgroup --memory $mem -- sh -c "cat /sys/fs/cgroup$memdir\$(grep '^[0-9]*:$memctl:' /proc/self/cgroup | cut -d: -f3)/$memfile"
want_line stage-memory-limit 33554432 $out

# exec: a process in a running container joins its cgroup (and sees it as the root).
gb run -d --name web --memory $mem busybox sleep 60
gb exec web sh -c "cat /proc/self/cgroup $memmax"
want_line exec-cgroup "$cgroot" $out
want_line exec-memory-limit 33554432 $out
gb rm -f web

# --pids-limit: ten processes at most; forks past that fail and glassbox counts them.
gb run --rm --pids-limit 10 busybox sh -c "cat $pidsmax; for i in \$(seq 20); do sleep 2 & done; wait"
want_line pids-limit 10 $out
want pids-refused "can't fork" $err
want pids-report "pids: the pids limit of 10 was hit" $err

# --cpus 0.5: half of each 100 ms period; a busy loop for 2 s is throttled.
gb run --rm --cpus 0.5 busybox sh -c "cat $cpumax; timeout 2 sh -c 'while :; do :; done'; cat $cpustat"
if [ "$layout" = v2 ]; then want_line cpu-limit "50000 100000" $out; else want_line cpu-limit 50000 $out; fi
if awk '$1 == "nr_throttled" && $2 > 0 { ok = 1 } END { exit !ok }' $out; then
    pass cpu-throttled
else
    fail cpu-throttled "nr_throttled is 0 after a 2 s busy loop"
fi
want cpu-report "cpu: throttled in" $err

# The container's process is born in its cgroup (v2 only: clone3 with CLONE_INTO_CGROUP),
# and the call narrated succeeded (a pid, not -1).
if [ "$layout" = v2 ]; then
    rm -f /tmp/trace.jsonl
    gb --trace /tmp/trace.jsonl run --rm --memory $mem busybox true
    if grep '"clone3"' /tmp/trace.jsonl | grep CLONE_INTO_CGROUP | grep -qv '"result":-1'; then
        pass clone-into-cgroup
    else
        grep '"clone3"' /tmp/trace.jsonl >$out
        fail clone-into-cgroup "no successful clone3 with CLONE_INTO_CGROUP in the trace"
    fi
fi

# The devices rule: a node made with mknod for a device of the VM (/dev/kmsg, 1:11, not on
# the allowlist) cannot be opened inside; with --privileged it can, so the refusal is the
# rule's and not some other permission's.
dev='mknod /kmsg c 1 11 && : > /kmsg && echo opened'
gb run --rm busybox sh -c "$dev"
want devices-refused "can't create /kmsg: Operation not permitted" $err
gb run --rm --privileged busybox sh -c "$dev"
want devices-privileged opened $out

# The cgroup namespace: the container sees its own cgroup as the root, mounted read-only.
gb run --rm --memory $mem busybox sh -c 'cat /proc/self/cgroup; cat /proc/mounts; mkdir /sys/fs/cgroup/x'
want_line cgroupns-root "$cgroot" $out
if [ "$layout" = v2 ]; then
    want cgroupns-mount " /sys/fs/cgroup cgroup2 ro," $out
else
    want cgroupns-mount "/sys/fs/cgroup/memory cgroup ro," $out
fi
want cgroupns-read-only "Read-only file system" $err

# pause: the freezer (v2 cgroup.freeze, v1 freezer.state) stops the container and ps says
# so; unpause lets it go; stop of a paused container thaws it first, so its TERM handler
# ends it (frozen, it would sit out the grace time and end by SIGKILL, 137).
gb run -d --name frozen busybox sh -c "trap 'exit 3' TERM; while :; do sleep 0.1; done"
gb pause frozen
gb ps
want pause-ps "(Paused)" $out
gb unpause frozen
gb ps
if grep -q Paused $out; then fail unpause-ps "ps still says Paused"; else pass unpause-ps; fi
gb pause frozen
gb stop -t 60 frozen
gb ps -a
want pause-stop "Exited (3)" $out
gb rm frozen

# Without root, in a cgroup v2 subtree delegated to an ordinary user (gbuser, uid 1000), as
# systemd delegates user@UID.service: --memory is enforced for that user too.
if [ "$layout" = v2 ]; then
    d=/sys/fs/cgroup/deleg
    mkdir $d $d/shell
    echo "+memory +pids" >$d/cgroup.subtree_control
    chown -R 1000:1000 $d
    mkdir -p /tmp/u/run
    printf '%s\n' 'exec env -i HOME=/tmp/u XDG_RUNTIME_DIR=/tmp/u/run PATH=/bin:/usr/local/bin NO_COLOR=1 glassbox "$@"' >/tmp/u/gb.sh
    chown -R 1000:1000 /tmp/u && chmod 700 /tmp/u/run
    # as_user ARGS...: glassbox as gbuser, started in the delegated subtree (moved there by
    # root: a user may move processes only within what is theirs).
    as_user() {
        sh -c 'echo $$ >/sys/fs/cgroup/deleg/shell/cgroup.procs && exec su -s /bin/sh -- gbuser /tmp/u/gb.sh "$@"' as_user "$@" >$out 2>$err
        rc=$?
    }
    as_user doctor
    want rootless-doctor "cgroup v2 $d is delegated to you, with" $out
    as_user run --rm --memory $mem busybox sh -c "id -u; cat $memmax"
    want_line rootless-root 0 $out
    want_line rootless-memory-limit 33554432 $out
    want rootless-delegated "the cgroup v2 subtree delegated to you" $err
    as_user run --rm --memory $mem busybox awk 'BEGIN { s = "x"; for (i = 0; i < 26; i++) s = s s; print length(s) }'
    status rootless-memory-oom-status 137 $rc
    # Without limits too, a container of the user's has a cgroup in the subtree: pause
    # freezes it there.
    as_user run -d --name rlpause busybox sleep 600
    as_user pause rlpause
    status rootless-pause 0 $rc
    frozen=$(cat $(find $d -path '*/gb-*' -name cgroup.freeze) 2>/dev/null)
    if [ "$frozen" = 1 ]; then pass rootless-frozen; else echo "$frozen" >$out; fail rootless-frozen "the container's cgroup.freeze is not 1"; fi
    as_user unpause rlpause
    status rootless-unpause 0 $rc
    as_user rm -f rlpause
    # The cgroup stage alone, in the subtree.
    as_user cgroup --pids 20 -- cat /proc/self/cgroup
    want_line rootless-stage-cgroup "0::/deleg/glassbox/gb-[0-9]+" $out
    left=$(find $d -mindepth 1 -type d ! -path $d/shell)
    if [ -z "$left" ]; then pass rootless-nothing-left; else echo "$left" >$out; fail rootless-nothing-left "cgroups left in the delegated subtree"; fi
fi

# glassbox runtime with an engine's cgroupsPath (/enginep/c1, as podman's
# /libpod_parent/libpod-ID): the container's cgroup is that path, its limit written there,
# and delete removes only the container's own directory; the engine's parent stays, as
# runc leaves it.
mkdir -p /tmp/eb && glassbox -q unpack busybox /tmp/eb/rootfs >/dev/null 2>&1
printf '%s' '{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"args":["sleep","60"],"cwd":"/","env":["PATH=/bin"]},"root":{"path":"rootfs"},"mounts":[{"destination":"/proc","type":"proc","source":"proc"}],"linux":{"cgroupsPath":"/enginep/c1","resources":{"memory":{"limit":33554432}},"namespaces":[{"type":"mount"},{"type":"pid"}]}}' >/tmp/eb/config.json
gb runtime --root /tmp/eb/state run --detach --bundle /tmp/eb c1
want_line engine-cgroup-limit 33554432 /sys/fs/cgroup$memdir/enginep/c1/$memfile
gb runtime --root /tmp/eb/state delete --force c1
if [ -d /sys/fs/cgroup$memdir/enginep ] && [ ! -e /sys/fs/cgroup$memdir/enginep/c1 ]; then
    pass engine-cgroup-removed
else
    ls -R /sys/fs/cgroup$memdir/enginep >$out 2>&1
    fail engine-cgroup-removed "the container's own cgroup is left, or the engine's parent is gone"
fi
find /sys/fs/cgroup -depth -type d -name enginep -exec rmdir {} \;

# Nothing left behind: no container cgroup under glassbox's parent, no mount of glassbox's.
left=$(find /sys/fs/cgroup -mindepth 2 -type d -path '*/glassbox/*' 2>/dev/null)
if [ -z "$left" ] && ! grep -q /tmp/gb /proc/mounts; then
    pass nothing-left
else
    echo "$left" >$out
    grep /tmp/gb /proc/mounts >>$out
    fail nothing-left "cgroups or mounts left after the runs"
fi
