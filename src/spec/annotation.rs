//! glassbox's own settings, in the annotations (reverse domain notation, as the spec asks).

pub const ID: &str = "org.glassbox.id";
pub const NAME: &str = "org.glassbox.name";
pub const IMAGE: &str = "org.glassbox.image";
pub const STAGES: &str = "org.glassbox.stages";
/// `none`, `host` or the bridge network's name.
pub const NETWORK: &str = "org.glassbox.network";
/// `[IP:]HOST:CTR/PROTO` (HOST absent: a free one), comma-separated.
pub const PUBLISH: &str = "org.glassbox.publish";
/// `overlay` (mount `overlay.options` on root.path first), `copy` (root.path is the
/// container's own copy of the image) or `host` (the rootfs stage is off).
pub const ROOTFS: &str = "org.glassbox.rootfs";
pub const OVERLAY_OPTIONS: &str = "org.glassbox.overlay.options";
pub const OVERLAY_LOWERDIR: &str = "org.glassbox.overlay.lowerdir";
pub const OVERLAY_UPPERDIR: &str = "org.glassbox.overlay.upperdir";
pub const OVERLAY_WORKDIR: &str = "org.glassbox.overlay.workdir";
/// `null` (glassbox gives the command /dev/null as stdin unless -i) or `inherit`.
pub const STDIN: &str = "org.glassbox.stdin";
/// The image's bottom layer, its layers above (JSON list, topmost first) and its config
/// (JSON): what the root is made from, read back when the bundle runs.
pub const IMAGE_ROOTFS: &str = "org.glassbox.image.rootfs";
pub const IMAGE_LAYERS: &str = "org.glassbox.image.layers";
pub const IMAGE_CONFIG: &str = "org.glassbox.image.config";
/// `true` with --rm: the container's directory goes when it ends.
pub const REMOVE: &str = "org.glassbox.rm";
/// The hostname when the spec cannot carry it (no UTS namespace: runc would refuse).
pub const HOSTNAME: &str = "org.glassbox.hostname";
/// Where a private user namespace's id ranges came from (/etc/subuid…), for narration.
pub const USERNS_SOURCE: &str = "org.glassbox.userns.source";
/// `--add-host` (JSON list of [name, address]), `--dns` (JSON list of addresses) and
/// `--network-alias` (JSON list): what /etc/hosts, resolv.conf and the network's name
/// server are written from.
pub const EXTRA_HOSTS: &str = "org.glassbox.extra_hosts";
pub const DNS: &str = "org.glassbox.dns";
pub const ALIASES: &str = "org.glassbox.aliases";
/// The volumes and host paths mounted (JSON list): which are volumes, and anonymous.
pub const VOLUMES: &str = "org.glassbox.volumes";
/// `--restart` (absent: no): what the supervisor of a detached container does when it ends.
pub const RESTART: &str = "org.glassbox.restart";
/// `true` with --init: glassbox stays as the container's PID 1 (see run/init.rs).
pub const INIT: &str = "org.glassbox.init";
/// `--stop-signal` (or the image's STOPSIGNAL) and `--stop-timeout` (seconds): what
/// `stop` sends first and how long it waits before SIGKILL (absent: SIGTERM, 10).
pub const STOP_SIGNAL: &str = "org.glassbox.stop-signal";
pub const STOP_TIMEOUT: &str = "org.glassbox.stop-timeout";
/// `--health-cmd` and its settings (JSON: cmd, interval_ms, timeout_ms, retries,
/// start_period_ms): what the supervisor runs in the container while it runs.
pub const HEALTH: &str = "org.glassbox.health";
