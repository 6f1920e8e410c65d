#!/bin/sh
# Boots Debian's systemd as PID 1 of its own namespaces, for tests/test_systemd_unit.py.
#
#   setpriv --pdeathsig TERM -- unshare --mount --propagation private -- \
#       sh systemd_boot.sh outer WORKDIR CGROUP
#
# Nothing may leak to the host: a systemd that sees the host's /tmp runs tmpfiles and empties
# it, and one that sees /dev, /run or /etc writes there. So PID 1 gets new pid, mount, uts,
# ipc and cgroup namespaces, and, before systemd starts, fresh tmpfs on /run, /tmp, /var/tmp,
# /dev (a few device nodes), /etc/systemd/system and /var/log/journal, copy-on-write overlays
# on /etc, /var and /opt (the install writes there), and a read-only /proc/sys. Its units come
# only from /etc/systemd/system (empty) and WORKDIR/units; no generator runs.
#
# Phases, each a process of the one before:
#   outer  host pid namespace, private mount namespace: makes the cgroup CGROUP/payload,
#          starts `init`, and when that ends (SIGKILL to PID 1, or SIGTERM here) waits for
#          the cgroup to empty and removes it. Exit 0 only if the cleanup worked.
#   init   PID 1 of the new pid namespace: joins CGROUP/payload, then a new cgroup namespace.
#   inner  the same PID 1: mounts, then exec systemd.
set -eu
phase=$1 work=$2 cgroup=$3

case $phase in
outer)
    if [ "$(stat -f -c %T /sys/fs/cgroup)" != cgroup2fs ]; then
        mount -t cgroup2 none /sys/fs/cgroup
    fi
    mkdir -p "/sys/fs/cgroup/$cgroup/payload"
    unshare --pid --fork --kill-child=SIGKILL --mount-proc --uts --ipc -- \
        sh "$0" init "$work" "$cgroup" &
    child=$!
    echo "$child" > "$work/unshare.pid"
    # unshare --kill-child SIGKILLs PID 1 when unshare itself dies.
    trap 'kill -KILL "$child" 2>/dev/null || true' TERM INT
    wait "$child" || true
    wait "$child" 2>/dev/null || true
    tries=0
    while grep -q '^populated 1' "/sys/fs/cgroup/$cgroup/cgroup.events"; do
        tries=$((tries + 1))
        if [ "$tries" -gt 200 ]; then
            echo "systemd_boot: cgroup $cgroup still populated after 20 s" >&2
            exit 1
        fi
        sleep 0.1
    done
    find "/sys/fs/cgroup/$cgroup" -depth -type d -exec rmdir {} \;
    ;;
init)
    echo $$ > "/sys/fs/cgroup/$cgroup/payload/cgroup.procs"
    exec unshare --cgroup -- sh "$0" inner "$work" "$cgroup"
    ;;
inner)
    # The cgroup namespace's own view: systemd manages CGROUP/payload as its root.
    umount /sys/fs/cgroup
    mount -t cgroup2 none /sys/fs/cgroup
    mount --bind /proc/sys /proc/sys
    mount -o remount,bind,ro /proc/sys

    mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
    mkdir /run/bwtest
    mount --bind "$work" /run/bwtest

    mount -t tmpfs -o mode=0755,nosuid tmpfs /dev
    mknod -m 666 /dev/null c 1 3
    mknod -m 666 /dev/zero c 1 5
    mknod -m 666 /dev/full c 1 7
    mknod -m 666 /dev/random c 1 8
    mknod -m 666 /dev/urandom c 1 9
    mknod -m 666 /dev/tty c 5 0
    mkdir /dev/pts /dev/shm
    mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts
    ln -s pts/ptmx /dev/ptmx
    mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
    ln -s /proc/self/fd /dev/fd
    ln -s /proc/self/fd/0 /dev/stdin
    ln -s /proc/self/fd/1 /dev/stdout
    ln -s /proc/self/fd/2 /dev/stderr

    for dir in etc var opt; do
        mkdir -p "/run/overlay/$dir/upper" "/run/overlay/$dir/work"
        mount -t overlay overlay \
            -o "lowerdir=/$dir,upperdir=/run/overlay/$dir/upper,workdir=/run/overlay/$dir/work" \
            "/$dir"
    done
    mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
    mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /var/tmp
    mount -t tmpfs -o mode=0755 tmpfs /etc/systemd/system
    mkdir -p /var/log/journal
    mount -t tmpfs -o mode=0755 tmpfs /var/log/journal
    # A container manager's job (systemd leaves propagation alone when $container is set):
    # LoadCredential= moves its mount into /run/credentials and needs it to propagate.
    mount --make-rshared /

    export container=balancewatch-test
    export SYSTEMD_UNIT_PATH=/etc/systemd/system:/run/bwtest/units
    export SYSTEMD_GENERATOR_PATH=/run/bwtest/empty
    export SYSTEMD_ENVIRONMENT_GENERATOR_PATH=/run/bwtest/empty
    exec /lib/systemd/systemd --system --log-target=journal --show-status=no
    ;;
*)
    echo "systemd_boot: unknown phase $phase" >&2
    exit 2
    ;;
esac
