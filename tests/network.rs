//! The net stage on the real kernel. Every scenario runs inside a network namespace the test
//! makes with `unshare --net` and that dies with it, so the machine's own links, routes and
//! firewall are never touched, and traffic goes only to addresses inside that namespace (and
//! the containers' namespaces inside it).
//!
//! Each scenario ends with a report of what is left in its namespace (`LEFT …` lines: veths,
//! glassbox rules, journal entries), before and after `glassbox cleanup`.

mod common;
use common::*;
use std::path::Path;
use std::process::Output;

/// Shell helpers every scenario gets: $GB (glassbox), $T (a temp dir), `wait_for FILE`,
/// and `report` (prints what is left).
const PRELUDE: &str = r#"
set -u
ip link set lo up
# A new namespace inherits the host's ip_forward (IPv4's devconf_inherit_init_net): start
# from 0 here, whatever the host forwards, so that glassbox must put 0 back.
echo 0 > /proc/sys/net/ipv4/ip_forward
wait_for() { i=0; while [ ! -e "$1" ] && [ $i -lt 300 ]; do sleep 0.05; i=$((i+1)); done; [ -e "$1" ]; }
# glassbox ends without waiting for the kernel to remove a container's host veth (a watcher
# it leaves strikes the journal entry then): wait for that, with a deadline.
settle() {
  i=0; while ip -o link | grep -q gbh && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done
  i=0; while grep -qs '"kind": "link"' "$GLASSBOX_STATE_DIR"/journal/*.json && [ $i -lt 50 ]; do sleep 0.01; i=$((i+1)); done
}
report() {
  for l in $(ip -o link | awk -F': ' '{print $2}' | cut -d@ -f1); do echo "LEFT-$1 link $l"; done
  iptables -S | grep glassbox | sed "s/^/LEFT-$1 rule /"
  iptables -t nat -S | grep glassbox | sed "s/^/LEFT-$1 rule /"
  for f in "$GLASSBOX_STATE_DIR"/journal/*.json; do [ -e "$f" ] && echo "LEFT-$1 journal $(tr -d '\n ' < "$f")"; done
  # Name servers of user-defined networks, in this network namespace only.
  for p in $(pgrep -f 'network serve-dn[s]'); do [ "$(readlink /proc/$p/ns/net)" = "$(readlink /proc/self/ns/net)" ] && echo "LEFT-$1 responder $p"; done
  # A new namespace starts with 0: glassbox sets 1 for its bridges and must put 0 back.
  [ "$(cat /proc/sys/net/ipv4/ip_forward)" = 1 ] && echo "LEFT-$1 ip_forward 1"
  return 0
}
"#;

struct Run {
    out: Output,
    dir: tempfile::TempDir,
}

impl Run {
    fn stdout(&self) -> String {
        stdout(&self.out)
    }
    fn lines(&self, prefix: &str) -> Vec<String> {
        self.stdout()
            .lines()
            .filter_map(|l| l.strip_prefix(prefix).map(str::to_string))
            .collect()
    }
    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join("t").join(name)).unwrap_or_default()
    }
    /// After the containers ended: no veth, no container rule, no lease; after cleanup:
    /// nothing of glassbox's at all.
    fn assert_nothing_left(&self) {
        let before = self.lines("LEFT-before-cleanup ");
        for l in &before {
            assert!(
                !l.contains("gbh")
                    && !l.contains("lease")
                    && !l.contains("\"link\"")
                    && !l.contains("responder"),
                "left after the containers ended: {l}\n{}",
                self.stdout()
            );
            if l.starts_with("rule ") {
                assert!(
                    l.contains("glassbox:net:"),
                    "a container's rule was left: {l}"
                );
            }
        }
        self.assert_cleanup_left_nothing();
    }

    /// After `glassbox cleanup`: nothing of glassbox's at all.
    fn assert_cleanup_left_nothing(&self) {
        let after: Vec<String> = self
            .lines("LEFT-after-cleanup ")
            .into_iter()
            .filter(|l| l != "link lo" && !l.starts_with("link host"))
            .collect();
        assert!(
            after.is_empty(),
            "left after glassbox cleanup: {after:?}\n{}",
            self.stdout()
        );
    }
}

/// Run `script` with sh in a throwaway network namespace (and a temp state dir).
fn in_netns(script: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t");
    std::fs::create_dir(&t).unwrap();
    let full = format!(
        "{PRELUDE}\n{script}\nsettle\nreport before-cleanup\n\"$GB\" -q cleanup >/dev/null\nreport after-cleanup\n"
    );
    let out = std::process::Command::new("timeout")
        .args(["120", "unshare", "--net", "--", "sh", "-c", &full])
        .env("GB", bin())
        .env("T", &t)
        .env("GLASSBOX_STATE_DIR", dir.path().join("state"))
        .env("NO_COLOR", "1")
        .env_remove("GLASSBOX_TRACE")
        .output()
        .unwrap();
    Run { out, dir }
}

fn ready(test: &str) -> bool {
    root_or_skip(test)
        && tool_or_skip(test, "ip")
        && tool_or_skip(test, "iptables")
        && tool_or_skip(test, "busybox")
}

#[test]
fn two_containers_on_the_default_bridge_ping_each_other_and_the_gateway() {
    if !ready("net_two_containers") {
        return;
    }
    let r = in_netns(
        r#"
"$GB" -q net --ip 10.77.0.10/24 -- sh -c 'touch $T/a-up; wait_() { i=0; while [ ! -e $1 ] && [ $i -lt 300 ]; do sleep 0.05; i=$((i+1)); done; }; wait_ $T/b-up
  busybox ping -c1 -W2 10.77.0.11 >/dev/null && echo ok > $T/a-to-b; wait_ $T/done' &
A=$!
"$GB" -q net --ip 10.77.0.11/24 -- sh -c 'touch $T/b-up; wait_() { i=0; while [ ! -e $1 ] && [ $i -lt 300 ]; do sleep 0.05; i=$((i+1)); done; }; wait_ $T/a-up
  busybox ping -c1 -W2 10.77.0.10 >/dev/null && echo ok > $T/b-to-a
  busybox ping -c1 -W2 10.77.0.1 >/dev/null && echo ok > $T/b-to-gw; wait_ $T/done' &
B=$!
wait_for $T/a-to-b; wait_for $T/b-to-a; wait_for $T/b-to-gw
touch $T/done
wait $A; echo "A-status $?"
wait $B; echo "B-status $?"
"#,
    );
    let so = r.stdout();
    assert_eq!(
        r.file("a-to-b"),
        "ok\n",
        "A could not ping B\n{so}{}",
        stderr(&r.out)
    );
    assert_eq!(r.file("b-to-a"), "ok\n", "B could not ping A\n{so}");
    assert_eq!(
        r.file("b-to-gw"),
        "ok\n",
        "B could not ping the gateway\n{so}"
    );
    assert!(
        so.contains("A-status 0") && so.contains("B-status 0"),
        "{so}"
    );
    r.assert_nothing_left();
}

#[test]
fn containers_on_two_user_bridges_cannot_reach_each_other() {
    if !ready("net_user_bridges") {
        return;
    }
    let r = in_netns(
        r#"
"$GB" -q network create gbtn1 --subnet 10.91.0.0/24 && "$GB" -q network create gbtn2 --subnet 10.92.0.0/24
"$GB" network ls
"$GB" -q net --network gbtn1 --ip 10.91.0.5/24 -- sh -c 'touch $T/x-up; i=0; while [ ! -e $T/done ] && [ $i -lt 300 ]; do sleep 0.05; i=$((i+1)); done' &
X=$!
wait_for $T/x-up
"$GB" -q net --network gbtn2 -- sh -c '
  busybox ping -c1 -W2 10.92.0.1 >/dev/null && echo reached > $T/own-gw
  busybox ping -c1 -W1 10.91.0.5 >/dev/null && echo reached > $T/other || echo blocked > $T/other'
touch $T/done; wait $X
# From the host, the container on gbtn1 is reachable (it is the host's own bridge).
"$GB" -q network rm gbtn1; echo "rm1 $?"
echo "forward-after-rm1 $(cat /proc/sys/net/ipv4/ip_forward)"
"$GB" -q network rm gbtn2; echo "rm2 $?"
echo "forward-after-rm2 $(cat /proc/sys/net/ipv4/ip_forward)"
"$GB" network ls
"#,
    );
    let so = r.stdout();
    assert!(so.contains("gbtn1") && so.contains("10.91.0.0/24"), "{so}");
    assert_eq!(r.file("own-gw"), "reached\n", "{so}{}", stderr(&r.out));
    assert_eq!(
        r.file("other"),
        "blocked\n",
        "a container crossed bridges\n{so}"
    );
    assert!(
        so.contains("rm1 0") && so.contains("rm2 0"),
        "{so}{}",
        stderr(&r.out)
    );
    // ip_forward goes back to 0 with the last bridge, not before.
    assert!(
        so.contains("forward-after-rm1 1") && so.contains("forward-after-rm2 0"),
        "{so}"
    );
    let last_ls = so.rsplit("NAME").next().unwrap();
    assert!(
        !last_ls.contains("gbtn1"),
        "network rm left it listed: {so}"
    );
    assert!(
        !so.contains("LEFT-before-cleanup link gbtn"),
        "network rm left a bridge: {so}"
    );
    r.assert_nothing_left();
}

#[test]
fn a_published_port_answers_on_the_host_address_and_on_localhost() {
    if !ready("net_publish") {
        return;
    }
    let r = in_netns(
        r#"
ip link add hostx type veth peer name hosty && ip link set hosty up && ip addr add 198.18.0.1/24 dev hostx && ip link set hostx up
mkdir -p $T/www && echo hello-from-the-container > $T/www/index.html
"$GB" -q net --publish 18080:80 -- busybox httpd -f -p 80 -h $T/www &
S=$!
get() { printf 'GET / HTTP/1.0\r\n\r\n' | busybox nc "$1" 18080 2>/dev/null | tail -n 1; }
i=0; until [ -s $T/via-host ] || [ $i -ge 100 ]; do get 198.18.0.1 > $T/via-host; [ -s $T/via-host ] || sleep 0.05; i=$((i+1)); done
get 127.0.0.1 > $T/via-localhost
kill -TERM $S; wait $S; echo "server-status $?"
"#,
    );
    let so = r.stdout();
    assert_eq!(
        r.file("via-host"),
        "hello-from-the-container\n",
        "{so}{}",
        stderr(&r.out)
    );
    assert_eq!(
        r.file("via-localhost"),
        "hello-from-the-container\n",
        "{so}"
    );
    // httpd killed by the forwarded SIGTERM: 128+15.
    assert!(so.contains("server-status 143"), "{so}");
    r.assert_nothing_left();
}

#[test]
fn network_none_has_only_lo_and_host_sees_the_hosts_links() {
    if !ready("net_none_host") {
        return;
    }
    let r = in_netns(
        r#"
ip link add hostx type veth peer name hosty
echo NONE; "$GB" -q net --network none -- ip -o link | awk -F': ' '{print "NONE-LINK " $2 " " $3}'
"$GB" -q net --network host -- ip -o link | awk -F': ' '{print "HOST-LINK " $2}'
"#,
    );
    let none = r.lines("NONE-LINK ");
    assert_eq!(none.len(), 1, "{}{}", r.stdout(), stderr(&r.out));
    assert!(none[0].starts_with("lo <LOOPBACK,UP"), "{none:?}");
    let host = r.lines("HOST-LINK ");
    assert!(host.iter().any(|l| l.starts_with("hostx@")), "{host:?}");
    r.assert_nothing_left();
}

#[test]
fn twenty_containers_in_parallel_get_distinct_addresses_and_all_work() {
    if !ready("net_twenty") {
        return;
    }
    let r = in_netns(
        r#"
for i in $(seq 1 20); do
  "$GB" net -- sh -c "ip -4 -o addr show eth0 | awk '{print \$4}' > $T/addr.$i
    i=0; while [ ! -e $T/go ] && [ \$i -lt 600 ]; do sleep 0.05; i=\$((i+1)); done
    busybox ping -c1 -W2 10.77.0.1 >/dev/null && echo ok > $T/ok.$i" 2> $T/err.$i &
done
n=0; while [ $(ls $T | grep -c '^addr\.') -lt 20 ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n+1)); done
echo "UP $(ls $T | grep -c '^addr\.')"
touch $T/go
wait
echo "OK $(ls $T | grep -c '^ok\.')"
"#,
    );
    let so = r.stdout();
    assert!(so.contains("UP 20"), "{so}");
    assert!(so.contains("OK 20"), "{so}{}", r.file("err.1"));
    let mut addrs: Vec<String> = (1..=20).map(|i| r.file(&format!("addr.{i}"))).collect();
    addrs.sort();
    addrs.dedup();
    assert_eq!(addrs.len(), 20, "addresses were shared: {addrs:?}");
    let mut names: Vec<String> = (1..=20)
        .filter_map(|i| {
            let e = r.file(&format!("err.{i}"));
            e.split(|c: char| !c.is_ascii_alphanumeric())
                .find(|w| w.starts_with("gbh"))
                .map(str::to_string)
        })
        .collect();
    assert_eq!(names.len(), 20, "{so}");
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 20, "interface names were shared: {names:?}");
    r.assert_nothing_left();
}

/// One bad input: exit 125, one clear sentence, nothing made.
fn assert_refused(r: &Run, marker: &str, words: &str) {
    let so = r.stdout();
    let line = so
        .lines()
        .find(|l| l.starts_with(marker))
        .unwrap_or_else(|| panic!("no {marker} line in {so}"));
    assert!(
        line.ends_with(" 125"),
        "{marker}: not exit 125: {line}\n{so}"
    );
    let err = r.file(marker);
    assert!(
        err.starts_with("glassbox: error: ") && err.contains(words),
        "{marker}: {err}"
    );
    assert_eq!(
        err.lines().count(),
        2,
        "{marker}: more than one sentence and a what-to-do: {err}"
    );
}

#[test]
fn bad_input_is_refused_before_anything_is_made() {
    if !ready("net_bad_input") {
        return;
    }
    let r = in_netns(
        r#"
try() { m=$1; shift; "$GB" -q "$@" 2> $T/$m; echo "$m $?"; }
try outside net --ip 10.99.0.5/24 -- true
try zero net --publish 0:80 -- true
try unknown net --network nosuchnet -- true
try longname network create a-name-of-16-chr
try badsubnet network create gbtnx --subnet 10.0.0.0/40
report nothing-yet
busybox httpd -f -p 18081 -h $T & H=$!
i=0; until busybox nc -z 127.0.0.1 18081 2>/dev/null || [ $i -ge 100 ]; do sleep 0.05; i=$((i+1)); done
try portused net --publish 18081:80 -- true
kill $H; wait $H
"$GB" -q net --ip 10.77.0.7/24 -- sh -c "touch $T/up; i=0; while [ ! -e $T/done ] && [ \$i -lt 300 ]; do sleep 0.05; i=\$((i+1)); done" & C=$!
wait_for $T/up
try inuse net --ip 10.77.0.7/24 -- true
touch $T/done; wait $C
"#,
    );
    assert_refused(&r, "outside", "outside the subnet");
    assert_refused(&r, "zero", "--publish \"0:80\"");
    assert_refused(&r, "unknown", "no network called \"nosuchnet\"");
    assert_refused(&r, "longname", "1 to 15");
    assert_refused(&r, "badsubnet", "--subnet");
    assert_refused(&r, "portused", "already in use");
    assert_refused(&r, "inuse", "already in use on the network bridge");
    let nothing: Vec<String> = r
        .lines("LEFT-nothing-yet ")
        .into_iter()
        .filter(|l| l != "link lo")
        .collect();
    assert!(nothing.is_empty(), "bad input made something: {nothing:?}");
    r.assert_nothing_left();
}

#[test]
fn the_narration_of_a_bridged_run_is_honest() {
    if !ready("net_strace") || !tool_or_skip("net_strace", "strace") {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    // strace runs inside a throwaway network namespace, which takes the bridge and rules
    // with it when it ends.
    let t = strace::run_prefixed(
        &[
            "unshare",
            "--net",
            "--",
            "sh",
            "-c",
            "ip link set lo up && exec \"$@\"",
            "sh",
        ],
        &["net", "--", "sh", "-c", "ip -4 -o addr show eth0"],
        |c| {
            c.env("GLASSBOX_STATE_DIR", state.path());
        },
    );
    assert!(t.output.status.success(), "{}", stderr(&t.output));
    assert!(
        stdout(&t.output).contains("10.77.0.2/24"),
        "{}",
        stdout(&t.output)
    );
    let names = t.narrated_names();
    assert_eq!(
        names.iter().filter(|n| *n == "sendto").count(),
        8,
        "bridge (3), veth on the bridge and up (1), inside (4), and no RTM_DELLINK: {names:?}"
    );
    // The host end goes with the container's namespace: glassbox listens for the kernel's
    // RTM_DELLINK instead of sending its own, in a watcher it forks, and says so.
    assert!(names.iter().any(|n| n == "bind"), "{names:?}");
    assert!(
        stderr(&t.output).contains("hears the kernel's RTM_DELLINK of gbh"),
        "{}",
        stderr(&t.output)
    );
    t.assert_honest();
    assert!(Path::new(state.path()).join("journal").exists());
}

#[test]
fn a_bridged_run_ends_before_its_host_veth_is_gone_and_a_watcher_removes_it() {
    if !ready("net_watcher") {
        return;
    }
    // The command leaves a process in its network namespace, which keeps the namespace and
    // so the veth: glassbox ends at once all the same, and its watcher deletes the host end
    // after its wait and strikes the journal entry, with no cleanup.
    let r = in_netns(
        r#"
out=$("$GB" -q net -- sh -c 'sleep 5 </dev/null >/dev/null 2>&1 & echo $!'); echo "status $?"
echo "right-after links $(ip -o link | grep -c gbh)"
i=0; while ip -o link | grep -q gbh && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done
echo "later links $(ip -o link | grep -c gbh) holder $(kill -0 $out 2>/dev/null && echo alive)"
settle
echo "journal links $(grep -ls '"kind": "link"' "$GLASSBOX_STATE_DIR"/journal/*.json | wc -l)"
kill $out
"#,
    );
    let so = r.stdout();
    assert!(so.contains("status 0"), "{so}");
    assert!(
        so.contains("right-after links 1"),
        "glassbox waited for the host veth to be gone:\n{so}"
    );
    assert!(so.contains("later links 0 holder alive"), "{so}");
    assert!(so.contains("journal links 0"), "{so}");
    r.assert_nothing_left();
}

#[test]
fn back_to_back_bridged_runs_hand_their_veths_to_one_watcher() {
    if !ready("net_one_watcher") {
        return;
    }
    // Each command leaves a process that keeps its namespace, so the watcher waits 250 ms
    // for each link: the runs that end meanwhile hand theirs to it rather than fork one, and
    // it deletes every host end after its wait all the same.
    let r = in_netns(
        r#"
keep='sleep 3 </dev/null >/dev/null 2>&1 & echo $!'
k1=$("$GB" -q net -- sh -c "$keep")
k2=$("$GB" net -- sh -c "$keep" 2>$T/second); echo "status $?"
k3=$("$GB" net -- sh -c "$keep" 2>$T/third); echo "status $?"
i=0; while ip -o link | grep -q gbh && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done
echo "later links $(ip -o link | grep -c gbh)"
settle
echo "journal links $(grep -ls '"kind": "link"' "$GLASSBOX_STATE_DIR"/journal/*.json | wc -l)"
kill $k1 $k2 $k3
"#,
    );
    let so = r.stdout();
    assert_eq!(so.matches("status 0").count(), 2, "{so}");
    for run in ["second", "third"] {
        let said = r.file(run);
        assert!(
            said.contains("the watcher an earlier run left takes gbh")
                && !said.contains("clone(child_stack=NULL, flags=SIGCHLD)"),
            "the {run} run forked a watcher of its own:\n{said}"
        );
    }
    assert!(so.contains("later links 0"), "{so}");
    assert!(so.contains("journal links 0"), "{so}");
    r.assert_nothing_left();
}

#[test]
fn cleanup_removes_what_a_killed_glassbox_left() {
    if !ready("net_killed") {
        return;
    }
    let r = in_netns(
        r#"
"$GB" -q net --publish 18082:80 -- sh -c "touch $T/up; i=0; while [ ! -e $T/done ] && [ \$i -lt 300 ]; do sleep 0.05; i=\$((i+1)); done" & G=$!
wait_for $T/up
kill -KILL $G; wait $G 2>/dev/null
ip -o link | grep -q gbh && echo "VETH-AFTER-KILL yes"
iptables -t nat -S | grep -q "glassbox:[0-9]" && echo "RULE-AFTER-KILL yes"
"$GB" cleanup > $T/cleanup 2>/dev/null; echo "cleanup $?"
touch $T/done; sleep 0.2
"#,
    );
    let so = r.stdout();
    assert!(
        so.contains("VETH-AFTER-KILL yes"),
        "the kill left no veth to clean: {so}"
    );
    assert!(so.contains("RULE-AFTER-KILL yes"), "{so}");
    assert!(so.contains("cleanup 0"), "{so}{}", r.file("cleanup"));
    let c = r.file("cleanup");
    assert!(c.contains("removed link gbh"), "{c}");
    assert!(
        c.contains("removed address 10.77.0.2 on network bridge"),
        "{c}"
    );
    assert!(c.contains("DNAT"), "{c}");
    r.assert_nothing_left();
}

#[test]
fn cleanup_leaves_a_bridge_that_containers_still_use() {
    if !root_or_skip("cleanup_leaves_a_bridge_in_use") || !tool_or_skip("bridge_in_use", "unshare")
    {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    // The first glassbox makes gb0 and ends; a second container then uses gb0 while cleanup
    // runs: the bridge (whose maker is gone) and its rules must stay until it ends.
    let script = format!(
        r#"gb={gb}
$gb -q net -- true
# The first one's host veth goes a moment after it ended: wait, so brif shows the second's.
for i in $(seq 100); do [ -z "$(ls /sys/class/net/gb0/brif 2>/dev/null)" ] && break; sleep 0.05; done
$gb -q net -- sleep 30 &
c=$!
for i in $(seq 100); do [ -n "$(ls /sys/class/net/gb0/brif 2>/dev/null)" ] && break; sleep 0.05; done
report=$($gb cleanup 2>/dev/null); echo "during-status $?"; echo "$report" | sed 's/^/during-report: /'
echo during: $(ip -o link show gb0 | wc -l) $(iptables-save | grep -c glassbox:net:bridge)
kill $c; wait $c
$gb -q cleanup >/dev/null 2>&1
echo after: $(ip -o link | grep -c gb) $(iptables-save | grep -c glassbox)"#,
        gb = bin().display()
    );
    let o = std::process::Command::new("timeout")
        .args(["60", "unshare", "--net", "sh", "-c", &script])
        .env("GLASSBOX_STATE_DIR", state.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(
        out.contains("during: 1 5"),
        "cleanup took the bridge or its rules from a running container:\n{out}{}",
        stderr(&o)
    );
    assert!(out.contains("after: 0 0"), "{out}");
    // What the running container needs is left and said so: not a failure of cleanup.
    assert!(out.contains("during-status 0"), "{out}");
    assert!(!out.contains("could not remove"), "{out}");
    assert!(
        out.contains("during-report: left bridge gb0 (bridge gb0 is still in use")
            && out.contains(
                "during-report: left the change of /proc/sys/net/ipv4/ip_forward from 0 to 1 \
                 (/proc/sys/net/ipv4/ip_forward stays 1 while bridge gb0 is there)"
            ),
        "{out}"
    );
}

/// One line with what glassbox has in this namespace: journal entries, its links, its rules
/// and ip_forward.
const COUNTS: &str = r#"counts() { echo "$1 journal $(ls "$GLASSBOX_STATE_DIR"/journal | wc -l) links $(ip -o link | grep -c 'gb0\|gbh') rules $(iptables-save | grep -c glassbox) ip_forward $(cat /proc/sys/net/ipv4/ip_forward)"; }"#;

/// A bridge and a killed container's veth and rules, made in this namespace (A).
const LEAVE_A_BRIDGE_AND_A_KILLED_CONTAINER: &str = r#"
"$GB" -q net --publish 18083:80 -- sh -c "touch $T/up; i=0; while [ ! -e $T/done ] && [ \$i -lt 300 ]; do sleep 0.05; i=\$((i+1)); done" & G=$!
wait_for $T/up
kill -KILL $G; wait $G 2>/dev/null
"#;

#[test]
fn cleanup_from_another_network_namespace_leaves_what_it_cannot_reach() {
    if !ready("net_cleanup_elsewhere") || !tool_or_skip("net_cleanup_elsewhere", "unshare") {
        return;
    }
    // B has a pid namespace and /proc of its own: no process, mount or descriptor of A is
    // in sight there, so A cannot be joined and nothing of A's may be struck.
    let r = in_netns(&format!(
        r#"{COUNTS}
{LEAVE_A_BRIDGE_AND_A_KILLED_CONTAINER}
counts A-before
unshare --net --pid --fork --mount-proc "$GB" cleanup > $T/from-b 2>&1; echo "B-status $?"
counts A-after-B
touch $T/done; sleep 0.2
"#
    ));
    let so = r.stdout();
    let line = |p: &str| {
        so.lines()
            .find(|l| l.starts_with(p))
            .unwrap_or("")
            .to_string()
    };
    let before = line("A-before ");
    assert!(
        before.contains("journal 12 links 2 rules 7") && before.contains("ip_forward 1"),
        "{so}"
    );
    assert_eq!(
        line("A-after-B ").replace("A-after-B", ""),
        before.replace("A-before", ""),
        "cleanup in B changed A's journal, links or rules\n{so}{}",
        r.file("from-b")
    );
    let b = r.file("from-b");
    assert!(so.contains("B-status 0"), "{so}{b}");
    assert!(
        b.contains("left bridge gb0 (made in network namespace net:[")
            && b.contains("which no process, mount or open descriptor holds now"),
        "B's cleanup did not say why it left A's entries:\n{b}"
    );
    assert!(!b.contains("removed link gbh"), "{b}");
    // Then the cleanup in A (in_netns's last step) removes all of it.
    r.assert_cleanup_left_nothing();
}

#[test]
fn cleanup_from_another_network_namespace_joins_the_one_the_entries_were_made_in() {
    if !ready("net_cleanup_joins") || !tool_or_skip("net_cleanup_joins", "unshare") {
        return;
    }
    // B sees the shell that holds A (/proc/PID/ns/net): a helper joins A and undoes there.
    let r = in_netns(&format!(
        r#"{COUNTS}
{LEAVE_A_BRIDGE_AND_A_KILLED_CONTAINER}
touch $T/done; sleep 0.2
unshare --net "$GB" cleanup > $T/from-b 2>&1; echo "B-status $?"
counts A-after-B
"#
    ));
    let so = r.stdout();
    let b = r.file("from-b");
    assert!(so.contains("B-status 0"), "{so}{b}");
    assert!(
        so.contains("A-after-B journal 0 links 0 rules 0 ip_forward 0"),
        "cleanup from B did not undo A's entries in A:\n{so}{b}"
    );
    assert!(b.contains("setns("), "the join is not narrated:\n{b}");
    assert!(b.contains("CLONE_NEWNET) = 0"), "{b}");
    assert!(b.contains("removed bridge gb0 in net:["), "{b}");
    assert!(b.contains("removed link gbh"), "{b}");
    r.assert_nothing_left();
}

#[test]
fn rm_of_the_container_that_made_the_bridge_works_while_another_uses_it() {
    if !ready("net_rm_first") {
        return;
    }
    let r = in_netns(
        r#"
"$GB" -q run --name first --network bridge busybox true; echo "first $?"
"$GB" -q run -d --name second --network bridge busybox sleep 30 >/dev/null; echo "second $?"
"$GB" -q rm first > $T/rm 2>&1; echo "rm-first $?"
echo "while-second bridge $(ip -o link show gb0 | wc -l) rules $(iptables-save | grep -c glassbox:net:bridge)"
echo "listed first $("$GB" ps -a | grep -c ' first$') second $("$GB" ps -a | grep -c ' second$')"
"$GB" -q rm -f second; echo "rm-second $?"
"#,
    );
    let so = r.stdout();
    assert!(
        so.contains("first 0") && so.contains("second 0"),
        "{so}{}",
        stderr(&r.out)
    );
    assert!(
        so.contains("rm-first 0"),
        "rm of the first container failed while the second used the bridge:\n{}\n{so}",
        r.file("rm")
    );
    assert!(
        so.contains("while-second bridge 1 rules 5"),
        "the second container lost its bridge or rules:\n{so}"
    );
    assert!(so.contains("listed first 0 second 1"), "{so}");
    assert!(so.contains("rm-second 0"), "{so}");
    // The bridge belongs to the network: it stays after its containers, until cleanup.
    assert!(so.contains("LEFT-before-cleanup link gb0"), "{so}");
    r.assert_nothing_left();
}

#[test]
fn the_narration_of_a_cleanup_that_joins_another_namespace_is_honest() {
    if !ready("net_strace_cleanup")
        || !tool_or_skip("net_strace_cleanup", "strace")
        || !tool_or_skip("net_strace_cleanup", "unshare")
    {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    // The shell stays in namespace A (holding it) while cleanup runs under strace in B.
    let t = strace::run_prefixed(
        &[
            "unshare",
            "--net",
            "--",
            "sh",
            "-c",
            "ip link set lo up && env -u GLASSBOX_TRACE \"$GB\" -q net -- true && unshare --net \"$@\"",
            "sh",
        ],
        &["cleanup"],
        |c| {
            c.env("GLASSBOX_STATE_DIR", state.path()).env("GB", bin());
        },
    );
    assert!(t.output.status.success(), "{}", stderr(&t.output));
    assert!(
        stdout(&t.output).contains("removed bridge gb0 in net:["),
        "{}",
        stdout(&t.output)
    );
    let names = t.narrated_names();
    assert!(names.contains(&"setns".to_string()), "{names:?}");
    t.assert_honest();
}

/// A helper for the scenarios below: `get URL FILE` retries a fetch for up to 5 s and keeps
/// what it got in $T/FILE.
const GET: &str = r#"
get() { i=0; until [ -s $T/$2 ] || [ $i -ge 100 ]; do busybox wget -qO $T/$2 "$1" 2>/dev/null || rm -f $T/$2; [ -s $T/$2 ] || sleep 0.05; i=$((i+1)); done; }
"#;

#[test]
fn every_publish_form_carries_traffic_and_port_prints_the_mapping() {
    if !ready("net_publish_forms") {
        return;
    }
    let r = in_netns(&format!(
        r#"{GET}
mkdir -p $T/www && echo hello > $T/www/index.html
"$GB" -q run --name base busybox true >/dev/null
"$GB" -q commit -c 'EXPOSE 8003' base exposing >/dev/null
"$GB" -q run -d --name web --network bridge --volume $T:/t -P \
  -p 8000 -p 127.0.0.1:18081:8000 -p 18082:8002/udp -p 18090-18091:8010-8011 exposing \
  sh -c 'udp_in() {{ until [ "$(awk "/^Udp: [0-9]/{{print \$3}}" /proc/net/snmp)" -gt 0 ]; do sleep 0.05; done; echo udp-arrived > /t/udp-got; }}
    httpd -p 8000 -h /t/www; httpd -p 8003 -h /t/www; httpd -p 8011 -h /t/www; udp_in; sleep 60' >/dev/null
"$GB" port web > $T/port-all
"$GB" port web 8000 > $T/port-8000
P=$(head -1 $T/port-8000 | cut -d: -f2)
E=$("$GB" port web 8003 | cut -d: -f2)
get http://127.0.0.1:$P/ dynamic
get http://127.0.0.1:18081/ on-ip
get http://127.0.0.1:$E/ exposed
get http://127.0.0.1:18091/ range
# busybox has no UDP server: the container sees a datagram arrive as its namespace's
# Udp NoPorts counter (nothing listens on 8002 inside).
i=0; until [ -s $T/udp-got ] || [ $i -ge 50 ]; do bash -c 'echo hi > /dev/udp/127.0.0.1/18082'; sleep 0.1; i=$((i+1)); done
"$GB" ps | grep web | sed 's/  */ /g' > $T/ps
"$GB" -q rm -f web base >/dev/null
"#
    ));
    let so = format!("{}{}", r.stdout(), stderr(&r.out));
    let all = r.file("port-all");
    // -p 8000 and -P get free host ports from the ephemeral range; the others are as asked.
    for want in [
        "8000/tcp -> 127.0.0.1:18081",
        "8002/udp -> 0.0.0.0:18082",
        "8010/tcp -> 0.0.0.0:18090",
        "8011/tcp -> 0.0.0.0:18091",
        "8003/tcp -> 0.0.0.0:",
    ] {
        assert!(all.contains(want), "{want} missing in:\n{all}\n{so}");
    }
    let dynamic = r.file("port-8000");
    assert!(dynamic.starts_with("0.0.0.0:"), "{dynamic}\n{so}");
    for f in ["dynamic", "on-ip", "exposed", "range"] {
        assert_eq!(r.file(f), "hello\n", "{f}\n{so}");
    }
    assert_eq!(
        r.file("udp-got").lines().next(),
        Some("udp-arrived"),
        "{so}"
    );
    let ps = r.file("ps");
    assert!(ps.contains("127.0.0.1:18081->8000/tcp"), "{ps}");
    assert!(ps.contains("0.0.0.0:18082->8002/udp"), "{ps}");
    r.assert_nothing_left();
}

#[test]
fn a_host_port_in_use_is_refused_naming_its_holder() {
    if !ready("net_port_holder") {
        return;
    }
    let r = in_netns(
        r#"
busybox nc -l -p 18095 >/dev/null 2>&1 &
N=$!
i=0; until grep -q ':464F ' /proc/net/tcp || [ $i -ge 100 ]; do sleep 0.05; i=$((i+1)); done
"$GB" -q run --rm --network bridge -p 18095:80 busybox true 2> $T/err; echo "status $?"
kill $N
"#,
    );
    let err = r.file("err");
    assert!(r.stdout().contains("status 125"), "{}", r.stdout());
    assert!(
        err.contains("host port 18095/tcp is already in use by busybox (pid "),
        "{err}"
    );
    r.assert_nothing_left();
}

#[test]
fn hosts_and_resolv_conf_are_the_containers_own_as_docker_writes_them() {
    if !ready("net_hosts_file") {
        return;
    }
    let r = in_netns(
        r#"
"$GB" -q run --rm --network bridge -h box --add-host db:10.9.9.9 --dns 10.8.8.8 busybox \
  sh -c 'hostname; hostname -i; grep db /etc/hosts; grep nameserver /etc/resolv.conf' > $T/out
"#,
    );
    assert_eq!(
        r.file("out"),
        "box\n10.77.0.2\n10.9.9.9\tdb\nnameserver 10.8.8.8\n",
        "{}{}",
        r.stdout(),
        stderr(&r.out)
    );
    r.assert_nothing_left();
}

#[test]
fn containers_on_a_user_network_reach_each_other_by_name_and_alias_but_not_on_the_default_bridge() {
    if !ready("net_names") {
        return;
    }
    let r = in_netns(
        r#"
mkdir -p $T/a $T/b && echo from-a > $T/a/index.html && echo from-b > $T/b/index.html
"$GB" -q network create mynet >/dev/null
"$GB" -q run -d --name a --network mynet --network-alias alpha --volume $T:/t busybox httpd -f -p 80 -h /t/a >/dev/null
"$GB" -q run -d --name b --network mynet --network-alias beta --volume $T:/t busybox httpd -f -p 80 -h /t/b >/dev/null
B_ID=$("$GB" ps | awk '$NF == "b" {print $1}')
"$GB" -q exec a wget -qO- http://b/ > $T/a-to-b
"$GB" -q exec a wget -qO- http://beta/ > $T/a-to-beta
"$GB" -q exec a wget -qO- http://$B_ID/ > $T/a-to-b-id
"$GB" -q exec b wget -qO- http://alpha/ > $T/b-to-alpha
"$GB" -q exec b cat /etc/resolv.conf > $T/b-resolv
"$GB" -q run --rm --network bridge busybox nslookup a > $T/on-bridge 2>&1; echo "bridge-lookup $?"
"$GB" -q run --rm --network mynet busybox nslookup nobody > $T/nobody 2>&1; echo "nobody-lookup $?"
"$GB" -q rm -f a b >/dev/null
"$GB" -q network rm mynet >/dev/null
"#,
    );
    let so = format!("{}{}", r.stdout(), stderr(&r.out));
    assert_eq!(r.file("a-to-b"), "from-b\n", "{so}");
    assert_eq!(r.file("a-to-beta"), "from-b\n", "{so}");
    assert_eq!(r.file("a-to-b-id"), "from-b\n", "by short id\n{so}");
    assert_eq!(r.file("b-to-alpha"), "from-a\n", "{so}");
    assert!(
        r.file("b-resolv").starts_with("nameserver 10.78.0.1\n"),
        "{}",
        r.file("b-resolv")
    );
    // The default bridge has no name server, as docker's: a is not found there.
    assert!(
        so.contains("bridge-lookup 1"),
        "{so}\n{}",
        r.file("on-bridge")
    );
    assert!(so.contains("nobody-lookup 1"), "{so}");
    assert!(
        r.file("nobody").contains("NXDOMAIN"),
        "{}",
        r.file("nobody")
    );
    r.assert_nothing_left();
}

#[test]
fn network_container_shares_its_interfaces_and_inspect_and_prune_show_and_remove_networks() {
    if !ready("net_container_mode") {
        return;
    }
    let r = in_netns(
        r#"
mkdir -p $T/www && echo hello-web > $T/www/index.html
"$GB" -q network create mynet --subnet 10.81.0.0/24 --gateway 10.81.0.254 --internal >/dev/null
"$GB" -q network create spare >/dev/null
"$GB" -q run -d --name web --network mynet --volume $T:/t busybox httpd -f -p 80 -h /t/www >/dev/null
"$GB" -q exec web ip -4 -o addr show eth0 | awk '{print $4}' > $T/web-addr
"$GB" -q run --rm --network container:web busybox sh -c 'ip -4 -o addr show eth0 | awk "{print \$4}"; wget -qO- http://127.0.0.1/' > $T/joined
"$GB" network inspect mynet > $T/inspect
"$GB" -q network prune > $T/prune-1
"$GB" -q rm -f web >/dev/null
"$GB" -q network prune > $T/prune-2
"$GB" network ls | tail -n +2 | awk '{print $1}' > $T/ls
"#,
    );
    let so = format!("{}{}", r.stdout(), stderr(&r.out));
    // --gateway takes the .254: the first container gets the .1.
    assert_eq!(r.file("web-addr"), "10.81.0.1/24\n", "{so}");
    assert_eq!(r.file("joined"), "10.81.0.1/24\nhello-web\n", "{so}");
    let v: serde_json::Value = serde_json::from_str(&r.file("inspect")).expect("JSON");
    let n = &v[0];
    assert_eq!(n["Name"], "mynet");
    assert_eq!(n["Driver"], "bridge");
    assert_eq!(n["Internal"], true);
    assert_eq!(n["IPAM"]["Config"][0]["Subnet"], "10.81.0.0/24");
    assert_eq!(n["IPAM"]["Config"][0]["Gateway"], "10.81.0.254");
    assert_eq!(n["Id"].as_str().unwrap().len(), 64);
    let containers = n["Containers"].as_object().unwrap();
    assert_eq!(containers.len(), 1, "{v}");
    let web = containers.values().next().unwrap();
    assert_eq!(
        (web["Name"].as_str(), web["IPv4Address"].as_str()),
        (Some("web"), Some("10.81.0.1/24"))
    );
    // Prune leaves a network in use, and takes it once it is not.
    assert_eq!(r.file("prune-1"), "Deleted Networks:\nspare\n", "{so}");
    assert_eq!(r.file("prune-2"), "Deleted Networks:\nmynet\n", "{so}");
    assert_eq!(r.file("ls"), "bridge\n", "{so}");
    r.assert_nothing_left();
}

#[test]
fn connect_makes_a_running_container_reachable_by_name_on_a_second_network_and_disconnect_undoes_it(
) {
    if !ready("net_connect") {
        return;
    }
    let r = in_netns(
        r#"
mkdir -p $T/www && echo hello-web > $T/www/index.html
"$GB" -q network create front >/dev/null
"$GB" -q network create back >/dev/null
"$GB" -q run -d --name web --network front --volume $T:/t busybox httpd -f -p 80 -h /t/www >/dev/null
"$GB" -q run -d --name client --network back busybox sleep 100 >/dev/null
"$GB" -q exec client nslookup web >/dev/null 2>&1; echo "before $?"
"$GB" -q network connect --alias www back web; echo "connect $?"
"$GB" -q exec web ip -4 -o addr show eth1 | awk '{print $4}' > $T/eth1
"$GB" -q exec client wget -qO- http://web/ > $T/by-name
"$GB" -q exec client wget -qO- http://www/ > $T/by-alias
"$GB" network inspect back | grep -c '"Name": "web"' > $T/inspected
"$GB" -q network disconnect back web; echo "disconnect $?"
"$GB" -q exec client nslookup web >/dev/null 2>&1; echo "after $?"
"$GB" -q exec web ip -o link | grep -c eth1 > $T/eth1-after
"$GB" -q network connect back web; echo "again $?"
"$GB" -q rm -f web client >/dev/null
"$GB" -q network rm front >/dev/null; "$GB" -q network rm back >/dev/null
"#,
    );
    let so = format!("{}{}", r.stdout(), stderr(&r.out));
    for want in [
        "before 1",
        "connect 0",
        "disconnect 0",
        "after 1",
        "again 0",
    ] {
        assert!(so.contains(want), "{want}:\n{so}");
    }
    assert!(r.file("eth1").starts_with("10."), "{so}");
    assert_eq!(r.file("by-name"), "hello-web\n", "{so}");
    assert_eq!(r.file("by-alias"), "hello-web\n", "{so}");
    assert_eq!(r.file("inspected"), "1\n", "{so}");
    assert_eq!(r.file("eth1-after"), "0\n", "the cable stayed\n{so}");
    r.assert_nothing_left();
}

#[test]
fn the_narration_of_a_run_on_a_user_network_and_its_name_server_is_honest() {
    if !ready("net_strace_dns") || !tool_or_skip("net_strace_dns", "strace") {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let made = glassbox()
        .args(["-q", "network", "create", "honest"])
        .env("GLASSBOX_STATE_DIR", state.path())
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", stderr(&made));
    let t = strace::run_prefixed(
        &[
            "unshare",
            "--net",
            "--",
            "sh",
            "-c",
            "ip link set lo up && echo 0 > /proc/sys/net/ipv4/ip_forward && exec \"$@\"",
            "sh",
        ],
        &[
            "net",
            "--network",
            "honest",
            "--",
            "busybox",
            "nslookup",
            "nobody",
            "10.78.0.1",
        ],
        |c| {
            c.env("GLASSBOX_STATE_DIR", state.path());
        },
    );
    assert!(
        stdout(&t.output).contains("NXDOMAIN"),
        "{}{}",
        stdout(&t.output),
        stderr(&t.output)
    );
    let names = t.narrated_names();
    assert!(names.iter().any(|n| n == "bind"), "{names:?}");
    t.assert_honest();
}
