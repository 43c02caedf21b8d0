//! The command line's flags turned into the stages' own config values: stages never see
//! clap's types, and the clap definitions (cli.rs) import nothing of the stages.

use crate::cli::{
    CgroupArgs, ExportArgs, MountArgs, NetArgs, RunArgs, SecurityOpts, UnpackArgs, UnshareArgs,
};

impl CgroupArgs {
    pub fn spec(&self) -> crate::stages::cgroups::CgroupSpec {
        crate::stages::cgroups::CgroupSpec {
            name: self.name.clone(),
            limits: crate::stages::cgroups::limits::LimitSpec {
                memory: self.memory.clone(),
                memory_swap: self.memory_swap.clone(),
                cpus: self.cpus.clone(),
                cpu_shares: self.cpu_shares,
                pids: self.pids,
                pids_flag: "--pids",
            },
        }
    }
}

impl RunArgs {
    /// The resource limits asked for with run's flags.
    pub fn limit_spec(&self) -> crate::stages::cgroups::limits::LimitSpec {
        crate::stages::cgroups::limits::LimitSpec {
            memory: self.memory.clone(),
            memory_swap: self.memory_swap.clone(),
            cpus: self.cpus.clone(),
            cpu_shares: self.cpu_shares,
            pids: self.pids_limit,
            pids_flag: "--pids-limit",
        }
    }
}

impl MountArgs {
    pub fn spec(&self) -> crate::stages::mounts::MountSpec {
        crate::stages::mounts::MountSpec {
            root: self.root.clone(),
            filesystems: self.filesystems.clone(),
            volume: self.volume.clone(),
            tmp_size: self.tmp_size.clone(),
            unmasked: self.unmasked,
        }
    }
}

impl UnshareArgs {
    pub fn spec(&self) -> crate::stages::unshare::UnshareSpec {
        crate::stages::unshare::UnshareSpec {
            mount: self.mount,
            uts: self.uts,
            ipc: self.ipc,
            net: self.net,
            pid: self.pid,
            user: self.user,
            cgroup: self.cgroup,
            time: self.time,
            fork: self.fork,
            map_root_user: self.map_root_user,
            map_user: self.map_user,
            map_group: self.map_group,
            hostname: self.hostname.clone(),
        }
    }
}

impl SecurityOpts {
    pub fn spec(&self) -> crate::stages::security::SecuritySpec {
        crate::stages::security::SecuritySpec {
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            privileged: self.privileged,
            security_opt: self.security_opt.clone(),
        }
    }
}

impl NetArgs {
    pub fn spec(&self) -> crate::stages::network::NetSpec {
        crate::stages::network::NetSpec {
            network: self.network.clone(),
            ip: self.ip.clone(),
            publish: self.publish.clone(),
            command: self.tail.command.clone(),
        }
    }
}

impl UnpackArgs {
    pub fn spec(&self) -> crate::stages::export::ExportSpec {
        crate::stages::export::ExportSpec {
            source: self.source.clone(),
            dir: self.dir.clone(),
            force: self.force,
            inspect: self.inspect,
            platform: self.platform.clone(),
        }
    }
}

impl ExportArgs {
    /// `glassbox export IMAGE DIR`, the old spelling of unpack.
    pub fn unpack_spec(&self) -> crate::stages::export::ExportSpec {
        crate::stages::export::ExportSpec {
            source: self.source.clone(),
            dir: self.dir.clone(),
            force: self.force,
            inspect: self.inspect,
            platform: self.platform.clone(),
        }
    }
}
