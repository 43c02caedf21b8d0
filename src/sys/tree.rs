//! Root-scoped file creation for `export`: every path an image archive names is resolved
//! inside the target directory by the kernel, never by string prefix.
//!
//! The idea: open the target directory once (`O_PATH`), then reach each parent directory with
//! openat2(2) and `RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS`, which makes the kernel refuse
//! (`EXDEV`) any resolution that would leave the directory — through `..`, an absolute
//! symlink or a symlink chain that climbs out. The entry itself is then made with an `*at`
//! call relative to that parent's descriptor, with `O_NOFOLLOW`/`AT_SYMLINK_NOFOLLOW`, so a
//! symlink already in place is never written through.
//!
//! Untar makes thousands of these calls, so each one is narrated only at `-vv` (the stage
//! narrates the idea and a summary per layer); they still go through here, one method per
//! real syscall, with the arguments as strace shows them.

use super::{check, qpath, quote, render_flags, Sys};
use crate::error::{Error, Result};
use crate::narrate::{Call, Level};
use nix::errno::Errno;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

const OPEN_FLAGS: &[(u64, &str)] = &[
    (libc::O_WRONLY as u64, "O_WRONLY"),
    (libc::O_CREAT as u64, "O_CREAT"),
    (libc::O_EXCL as u64, "O_EXCL"),
    (libc::O_NOFOLLOW as u64, "O_NOFOLLOW"),
    (libc::O_CLOEXEC as u64, "O_CLOEXEC"),
    (libc::O_PATH as u64, "O_PATH"),
    (libc::O_DIRECTORY as u64, "O_DIRECTORY"),
    (libc::O_RDONLY as u64, "O_RDONLY"),
];

const RESOLVE_FLAGS: &[(u64, &str)] = &[
    (libc::RESOLVE_BENEATH, "RESOLVE_BENEATH"),
    (libc::RESOLVE_IN_ROOT, "RESOLVE_IN_ROOT"),
    (libc::RESOLVE_NO_MAGICLINKS, "RESOLVE_NO_MAGICLINKS"),
    (libc::RESOLVE_NO_XDEV, "RESOLVE_NO_XDEV"),
];

/// How the export resolves paths inside the target: beneath it, no /proc magic links.
pub const RESOLVE_SCOPED: u64 = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;

/// A directory descriptor and the path it stands for (relative to the root, for narration).
pub struct DirFd {
    pub fd: OwnedFd,
    pub shown: String,
}

impl DirFd {
    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
    fn render(&self) -> String {
        format!("{}<{}>", self.raw(), self.shown)
    }
}

fn cname(name: &str) -> Result<CString> {
    CString::new(name).map_err(|_| {
        Error::new(
            format!("the archive holds a name with a NUL byte: {name:?}"),
            "this archive is damaged or hostile; use another image",
        )
    })
}

fn cret(ret: libc::c_int) -> std::result::Result<i64, Errno> {
    check(ret as libc::c_long)
}

impl Sys<'_> {
    /// A per-file call: narrated only at `-vv`; on failure an error that names the call.
    /// The call's text is only built when it is shown or has failed (untar makes thousands)
    /// — or when the kernel behind `Sys` is not the running one: then it goes through that
    /// kernel like every other call (a dry run makes nothing, the recorder logs it).
    fn quiet_call(
        &self,
        build: impl Fn() -> Call,
        make: impl FnOnce() -> std::result::Result<i64, Errno>,
    ) -> std::result::Result<i64, (Errno, String)> {
        let (result, made) = if self.kernel.makes_calls() {
            (make(), true)
        } else {
            let mut make = Some(make);
            let mut once = || make.take().map_or(Ok(0), |m| m());
            match self.kernel.perform(&build(), &mut once) {
                Some(result) => (result, true),
                None => (Ok(0), false),
            }
        };
        if self.narrator.level >= Level::Detail {
            let tail = match result {
                _ if !made => "= ? (dry run: not made)".to_string(),
                Ok(v) => format!("= {v}"),
                Err(e) => format!("= -1 {}", crate::error::errno_words(e)),
            };
            self.narrator
                .detail(&format!("{} {tail}", build().render()));
        }
        result.map_err(|e| (e, build().render()))
    }

    /// The descriptor an open call returned; when calls are not made, a stand-in that
    /// touches nothing: /dev/null read-write (reads end at once, writes go nowhere, and a
    /// directory listing or fstatat through it finds nothing).
    fn opened(&self, fd: i64) -> std::result::Result<OwnedFd, Errno> {
        if self.kernel.makes_calls() {
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
        }
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .map(OwnedFd::from)
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
    }

    /// open(2) the target directory with `O_PATH|O_DIRECTORY`: the handle every later path is
    /// resolved beneath. Narrated at the normal level: it is the idea of the whole stage.
    pub fn open_tree_root(&self, path: &Path, why: &str) -> Result<DirFd> {
        let p = super::cstring(&path.to_string_lossy())?;
        let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
        let call = || {
            Call::new(
                "openat",
                vec![
                    "AT_FDCWD".into(),
                    qpath(path),
                    format!("O_RDONLY|{}", render_flags(flags as u64, OPEN_FLAGS)),
                ],
                "openat(2)",
                why,
            )
        };
        let fd = self.call_plain(call, || {
            cret(unsafe { libc::openat(libc::AT_FDCWD, p.as_ptr(), flags) })
        })?;
        let fd = self.opened(fd).map_err(|e| {
            Error::sys(
                "cannot open /dev/null, the stand-in for a call not made",
                e,
                "check that /dev/null is there",
            )
        })?;
        Ok(DirFd {
            fd,
            shown: path.display().to_string(),
        })
    }

    /// openat2(2) a directory `rel` beneath `root` with `resolve` flags; `O_PATH|O_DIRECTORY`.
    /// Returns the errno too, so the caller can tell "missing" (ENOENT) from "escapes" (EXDEV).
    pub fn openat2_dir(
        &self,
        root: &DirFd,
        rel: &str,
        resolve: u64,
    ) -> std::result::Result<DirFd, (Errno, String)> {
        let flags = (libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64;
        self.openat2_beneath(
            root,
            rel,
            flags,
            resolve,
            "reach the parent directory without leaving the root",
        )
    }

    /// openat2(2) of `rel` beneath `root`, quietly narrated.
    fn openat2_beneath(
        &self,
        root: &DirFd,
        rel: &str,
        flags: u64,
        resolve: u64,
        why: &str,
    ) -> std::result::Result<DirFd, (Errno, String)> {
        let p = CString::new(rel).map_err(|_| (Errno::EINVAL, format!("{rel:?}")))?;
        let build = || {
            Call::new(
                "openat2",
                vec![
                    root.render(),
                    quote(rel),
                    format!(
                        "{{flags={}, resolve={}}}",
                        render_flags(flags, OPEN_FLAGS),
                        render_flags(resolve, RESOLVE_FLAGS)
                    ),
                    "24".into(),
                ],
                "openat2(2)",
                why,
            )
        };
        let fd = self.quiet_call(build, || {
            let mut how: libc::open_how = unsafe { std::mem::zeroed() };
            how.flags = flags;
            how.resolve = resolve;
            check(unsafe {
                libc::syscall(
                    libc::SYS_openat2,
                    root.raw(),
                    p.as_ptr(),
                    &how as *const libc::open_how,
                    std::mem::size_of::<libc::open_how>(),
                )
            })
        })?;
        Ok(DirFd {
            fd: self.opened(fd).map_err(|e| (e, build().render()))?,
            shown: format!("{}/{}", root.shown, rel),
        })
    }

    /// openat(2) a new regular file `name` in `dir`: `O_CREAT|O_EXCL|O_NOFOLLOW`, so an
    /// existing file or symlink is never opened, let alone written through.
    pub fn create_file_at(
        &self,
        dir: &DirFd,
        name: &str,
        mode: u32,
    ) -> std::result::Result<std::fs::File, (Errno, String)> {
        self.create_file_at_for(dir, name, mode, "create a regular file from the archive")
    }

    /// [`Sys::create_file_at`] with the reason shown.
    pub fn create_file_at_for(
        &self,
        dir: &DirFd,
        name: &str,
        mode: u32,
        why: &str,
    ) -> std::result::Result<std::fs::File, (Errno, String)> {
        let n = cname(name).map_err(|_| (Errno::EINVAL, name.to_string()))?;
        let flags =
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        let build = || {
            Call::new(
                "openat",
                vec![
                    dir.render(),
                    quote(name),
                    render_flags(flags as u64, OPEN_FLAGS),
                    format!("0{mode:o}"),
                ],
                "openat(2)",
                why,
            )
        };
        let fd = self.quiet_call(build, || {
            cret(unsafe { libc::openat(dir.raw(), n.as_ptr(), flags, mode as libc::c_uint) })
        })?;
        Ok(std::fs::File::from(
            self.opened(fd).map_err(|e| (e, build().render()))?,
        ))
    }

    /// mkdirat(2).
    pub fn mkdirat(
        &self,
        dir: &DirFd,
        name: &str,
        mode: u32,
    ) -> std::result::Result<(), (Errno, String)> {
        let n = cname(name).map_err(|_| (Errno::EINVAL, name.to_string()))?;
        let build = || {
            Call::new(
                "mkdirat",
                vec![dir.render(), quote(name), format!("0{mode:o}")],
                "mkdir(2)",
                "create a directory from the archive",
            )
        };
        self.quiet_call(build, || {
            cret(unsafe { libc::mkdirat(dir.raw(), n.as_ptr(), mode as libc::mode_t) })
        })?;
        Ok(())
    }

    /// symlinkat(2): the target is stored as the archive has it, never resolved here.
    pub fn symlinkat(
        &self,
        target: &str,
        dir: &DirFd,
        name: &str,
    ) -> std::result::Result<(), (Errno, String)> {
        let n = cname(name).map_err(|_| (Errno::EINVAL, name.to_string()))?;
        let t = cname(target).map_err(|_| (Errno::EINVAL, target.to_string()))?;
        let build = || {
            Call::new(
                "symlinkat",
                vec![quote(target), dir.render(), quote(name)],
                "symlink(2)",
                "create a symbolic link from the archive",
            )
        };
        self.quiet_call(build, || {
            cret(unsafe { libc::symlinkat(t.as_ptr(), dir.raw(), n.as_ptr()) })
        })?;
        Ok(())
    }

    /// linkat(2) with flags 0: a symlink as the old name is linked itself, not followed.
    pub fn linkat(
        &self,
        olddir: &DirFd,
        oldname: &str,
        newdir: &DirFd,
        newname: &str,
    ) -> std::result::Result<(), (Errno, String)> {
        let o = cname(oldname).map_err(|_| (Errno::EINVAL, oldname.to_string()))?;
        let n = cname(newname).map_err(|_| (Errno::EINVAL, newname.to_string()))?;
        let build = || {
            Call::new(
                "linkat",
                vec![
                    olddir.render(),
                    quote(oldname),
                    newdir.render(),
                    quote(newname),
                    "0".into(),
                ],
                "link(2)",
                "create a hard link from the archive",
            )
        };
        self.quiet_call(build, || {
            cret(unsafe { libc::linkat(olddir.raw(), o.as_ptr(), newdir.raw(), n.as_ptr(), 0) })
        })?;
        Ok(())
    }

    /// mknodat(2) for a character or block device or a FIFO (`kind` is `S_IFCHR`, `S_IFBLK`
    /// or `S_IFIFO`).
    pub fn mknodat(
        &self,
        dir: &DirFd,
        name: &str,
        kind: u32,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> std::result::Result<(), (Errno, String)> {
        let n = cname(name).map_err(|_| (Errno::EINVAL, name.to_string()))?;
        let kind_name = match kind {
            libc::S_IFCHR => "S_IFCHR",
            libc::S_IFBLK => "S_IFBLK",
            _ => "S_IFIFO",
        };
        let build = || {
            let mut args = vec![dir.render(), quote(name), format!("{kind_name}|0{mode:o}")];
            if kind != libc::S_IFIFO {
                args.push(format!("makedev({major:#x}, {minor:#x})"));
            }
            Call::new(
                "mknodat",
                args,
                "mknod(2)",
                "create a device node or FIFO from the archive",
            )
        };
        self.quiet_call(build, || {
            cret(unsafe {
                libc::mknodat(
                    dir.raw(),
                    n.as_ptr(),
                    kind | mode,
                    libc::makedev(major, minor),
                )
            })
        })?;
        Ok(())
    }

    /// fchownat(2) with `AT_SYMLINK_NOFOLLOW` (a symlink gets the owner, not its target);
    /// `name` "" with `AT_EMPTY_PATH` for an open file.
    pub fn fchownat(
        &self,
        dir: RawFd,
        shown: &str,
        name: &str,
        uid: u32,
        gid: u32,
    ) -> std::result::Result<(), (Errno, String)> {
        let n = cname(name).map_err(|_| (Errno::EINVAL, name.to_string()))?;
        let flags = if name.is_empty() {
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW
        } else {
            libc::AT_SYMLINK_NOFOLLOW
        };
        let build = || {
            let f = if name.is_empty() {
                "AT_EMPTY_PATH|AT_SYMLINK_NOFOLLOW"
            } else {
                "AT_SYMLINK_NOFOLLOW"
            };
            Call::new(
                "fchownat",
                vec![
                    format!("{dir}<{shown}>"),
                    quote(name),
                    uid.to_string(),
                    gid.to_string(),
                    f.into(),
                ],
                "chown(2)",
                "give the entry the owner the image says",
            )
        };
        self.quiet_call(build, || {
            cret(unsafe { libc::fchownat(dir, n.as_ptr(), uid, gid, flags) })
        })?;
        Ok(())
    }

    /// copy_file_range(2): up to `len` bytes of `from` at `offset` (moved on) into the open
    /// file `to`, copied in the kernel. Returns how many were copied (0: `from` ended).
    pub fn copy_file_range(
        &self,
        from: RawFd,
        offset: &mut i64,
        to: RawFd,
        shown: &str,
        len: u64,
    ) -> std::result::Result<u64, (Errno, String)> {
        let at = *offset;
        let build = || {
            Call::new(
                "copy_file_range",
                vec![
                    from.to_string(),
                    format!("[{at}]"),
                    format!("{to}<{shown}>"),
                    "NULL".into(),
                    len.to_string(),
                    "0".into(),
                ],
                "copy_file_range(2)",
                "the file's bytes, straight from the archive into the new file",
            )
        };
        let mut off = at as libc::loff_t;
        let n = self.quiet_call(build, || {
            check(unsafe {
                libc::copy_file_range(from, &mut off, to, std::ptr::null_mut(), len as usize, 0)
            } as libc::c_long)
        })?;
        *offset = off;
        Ok(n as u64)
    }

    /// fsetxattr(2): an extended attribute the image gives a file.
    pub fn fsetxattr(
        &self,
        fd: RawFd,
        shown: &str,
        name: &str,
        value: &[u8],
    ) -> std::result::Result<(), (Errno, String)> {
        let n = cname(name).map_err(|_| (Errno::EINVAL, name.to_string()))?;
        let build = || {
            Call::new(
                "fsetxattr",
                vec![
                    format!("{fd}<{shown}>"),
                    quote(name),
                    "...".into(),
                    value.len().to_string(),
                    "0".into(),
                ],
                "setxattr(2)",
                "give the file the extended attribute the image says (file capabilities)",
            )
        };
        self.quiet_call(build, || {
            check(
                unsafe { libc::fsetxattr(fd, n.as_ptr(), value.as_ptr().cast(), value.len(), 0) }
                    as libc::c_long,
            )
        })?;
        Ok(())
    }

    /// fchmod(2) on an open file (setuid and setgid bits kept as the image has them).
    pub fn fchmod(
        &self,
        fd: RawFd,
        shown: &str,
        mode: u32,
    ) -> std::result::Result<(), (Errno, String)> {
        let build = || {
            Call::new(
                "fchmod",
                vec![format!("{fd}<{shown}>"), format!("0{mode:o}")],
                "chmod(2)",
                "give the file the mode the image says",
            )
        };
        self.quiet_call(build, || {
            cret(unsafe { libc::fchmod(fd, mode as libc::mode_t) })
        })?;
        Ok(())
    }

    /// fchmodat(2) for an entry that is not a symlink (Linux cannot chmod a symlink).
    pub fn fchmodat(
        &self,
        dir: &DirFd,
        name: &str,
        mode: u32,
    ) -> std::result::Result<(), (Errno, String)> {
        let n = cname(name).map_err(|_| (Errno::EINVAL, name.to_string()))?;
        let build = || {
            Call::new(
                "fchmodat",
                vec![dir.render(), quote(name), format!("0{mode:o}")],
                "chmod(2)",
                "give the entry the mode the image says",
            )
        };
        self.quiet_call(build, || {
            cret(unsafe { libc::fchmodat(dir.raw(), n.as_ptr(), mode as libc::mode_t, 0) })
        })?;
        Ok(())
    }

    /// utimensat(2) with `AT_SYMLINK_NOFOLLOW`: the modification time the image says
    /// (`name` "" and `AT_EMPTY_PATH` for an open file).
    pub fn utimensat(
        &self,
        dir: RawFd,
        shown: &str,
        name: &str,
        mtime: i64,
    ) -> std::result::Result<(), (Errno, String)> {
        let n = cname(name).map_err(|_| (Errno::EINVAL, name.to_string()))?;
        let build = || {
            Call::new(
                "utimensat",
                vec![
                    format!("{dir}<{shown}>"),
                    if name.is_empty() {
                        "NULL".into()
                    } else {
                        quote(name)
                    },
                    format!("[UTIME_OMIT, {{tv_sec={mtime}, tv_nsec=0}}]"),
                    if name.is_empty() {
                        "0".into()
                    } else {
                        "AT_SYMLINK_NOFOLLOW".into()
                    },
                ],
                "utimensat(2)",
                "give the entry the modification time the image says",
            )
        };
        self.quiet_call(build, || {
            let times = [
                libc::timespec {
                    tv_sec: 0,
                    tv_nsec: libc::UTIME_OMIT,
                },
                libc::timespec {
                    tv_sec: mtime as libc::time_t,
                    tv_nsec: 0,
                },
            ];
            if name.is_empty() {
                cret(unsafe { libc::futimens(dir, times.as_ptr()) })
            } else {
                cret(unsafe {
                    libc::utimensat(dir, n.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW)
                })
            }
        })?;
        Ok(())
    }

    /// unlinkat(2): remove an entry (`AT_REMOVEDIR` for an empty directory).
    pub fn unlinkat(
        &self,
        dir: &DirFd,
        name: &str,
        is_dir: bool,
    ) -> std::result::Result<(), (Errno, String)> {
        self.unlinkat_for(
            dir,
            name,
            is_dir,
            "remove what a whiteout or a replacing entry says to remove",
        )
    }

    /// unlinkat(2) with the caller's reason.
    pub fn unlinkat_for(
        &self,
        dir: &DirFd,
        name: &str,
        is_dir: bool,
        why: &str,
    ) -> std::result::Result<(), (Errno, String)> {
        let n = cname(name).map_err(|_| (Errno::EINVAL, name.to_string()))?;
        let flags = if is_dir { libc::AT_REMOVEDIR } else { 0 };
        let build = || {
            Call::new(
                "unlinkat",
                vec![
                    dir.render(),
                    quote(name),
                    if is_dir {
                        "AT_REMOVEDIR".into()
                    } else {
                        "0".into()
                    },
                ],
                "unlink(2)",
                why,
            )
        };
        self.quiet_call(build, || {
            cret(unsafe { libc::unlinkat(dir.raw(), n.as_ptr(), flags) })
        })?;
        Ok(())
    }

    /// openat(2) a directory entry `name` of `dir` to list it (`O_DIRECTORY|O_NOFOLLOW`).
    pub fn open_subdir(
        &self,
        dir: &DirFd,
        name: &str,
    ) -> std::result::Result<DirFd, (Errno, String)> {
        let n = cname(name).map_err(|_| (Errno::EINVAL, name.to_string()))?;
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        let build = || {
            Call::new(
                "openat",
                vec![
                    dir.render(),
                    quote(name),
                    render_flags(flags as u64, OPEN_FLAGS),
                ],
                "openat(2)",
                "open a directory to empty it",
            )
        };
        let fd = self.quiet_call(build, || {
            cret(unsafe { libc::openat(dir.raw(), n.as_ptr(), flags) })
        })?;
        Ok(DirFd {
            fd: self.opened(fd).map_err(|e| (e, build().render()))?,
            shown: format!("{}/{}", dir.shown, name),
        })
    }

    /// openat2(2) a directory `rel` beneath `root` for reading (not `O_PATH`), so that its
    /// extended attributes can be set through the descriptor (a committed layer's opaque
    /// directories).
    pub fn open_dir_beneath(
        &self,
        root: &DirFd,
        rel: &str,
    ) -> std::result::Result<DirFd, (Errno, String)> {
        let flags =
            (libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC) as u64;
        self.openat2_beneath(
            root,
            rel,
            flags,
            RESOLVE_SCOPED,
            "open a directory of the new layer to set its xattr",
        )
    }

    /// openat2(2) a file `rel` for reading, resolved as if `root` were `/` (RESOLVE_IN_ROOT:
    /// an absolute symlink or `..` stays inside it) and without /proc magic links.
    pub fn open_file_in_root(
        &self,
        root: &DirFd,
        rel: &str,
        why: &str,
    ) -> std::result::Result<std::fs::File, (Errno, String)> {
        let flags = (libc::O_RDONLY | libc::O_CLOEXEC) as u64;
        let resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
        let f = self.openat2_beneath(root, rel, flags, resolve, why)?;
        Ok(std::fs::File::from(f.fd))
    }

    /// renameat2(2) with flags 0 inside one directory: `to` is replaced whatever it is (a
    /// symlink is replaced itself, never followed).
    pub fn rename_at(
        &self,
        dir: &DirFd,
        from: &str,
        to: &str,
        why: &str,
    ) -> std::result::Result<(), (Errno, String)> {
        let f = cname(from).map_err(|_| (Errno::EINVAL, from.to_string()))?;
        let t = cname(to).map_err(|_| (Errno::EINVAL, to.to_string()))?;
        let build = || {
            Call::new(
                "renameat2",
                vec![
                    dir.render(),
                    quote(from),
                    dir.render(),
                    quote(to),
                    "0".into(),
                ],
                "rename(2)",
                why,
            )
        };
        self.quiet_call(build, || renameat2_raw(dir.raw(), &f, dir.raw(), &t, 0))?;
        Ok(())
    }

    /// umask(2): 0 while extracting, so files are created with the image's permission bits
    /// in the openat itself (no chmod afterwards). Returns the old mask.
    pub fn umask(&self, mask: u32, why: &str) -> Result<u32> {
        let call = || {
            Call::new("umask", vec![format!("{mask:03o}")], "umask(2)", why)
                .by_hand(format!("umask {mask:03o}"))
        };
        let old = self.call_plain(call, || {
            Ok(unsafe { libc::umask(mask as libc::mode_t) } as i64)
        })?;
        Ok(old as u32)
    }

    /// umask(2) as [`Sys::umask`]; the old mask only when the call was made (else the
    /// process's mask is unchanged, and files made next are still cut by it).
    pub fn umask_if_made(&self, mask: u32, why: &str) -> Result<Option<u32>> {
        let old = self.umask(mask, why)?;
        Ok(self.kernel.makes_calls().then_some(old))
    }

    /// `rm -rf path`: thousands of unlinkat calls, narrated as the one command and each
    /// at `-vv`. The tree is walked through descriptors (a symlink inside is removed, never
    /// followed); when calls are not made nothing is removed.
    pub fn remove_tree(&self, path: &Path) -> Result<()> {
        self.narrator.note(&format!("rm -rf {}", path.display()));
        self.remove_path(path)
    }

    /// [`Sys::remove_tree`] without the note (the caller says what it removes).
    pub fn remove_path(&self, path: &Path) -> Result<()> {
        let fail = |(errno, call): (Errno, String)| {
            Error::sys(
                format!("cannot remove {}: {call} failed", path.display()),
                errno,
                "check for mounts inside it (findmnt) and remove it by hand",
            )
        };
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(fail((Errno::EINVAL, format!("rm -rf {}", path.display()))));
        };
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        // The top is looked at by path: through a stand-in descriptor nothing would be seen.
        // Already gone is removed (as rm -rf says).
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return Ok(());
        };
        let dir = self.open_dir_quietly(parent).map_err(fail)?;
        let name = name.to_string_lossy();
        if meta.is_dir() {
            let sub = self.open_subdir(&dir, &name).map_err(fail)?;
            for child in list_dir(&sub) {
                self.remove_at(&sub, &child).map_err(fail)?;
            }
            self.unlinkat(&dir, &name, true).map_err(fail)
        } else {
            self.unlinkat(&dir, &name, false).map_err(fail)
        }
    }

    /// Remove whatever is at `name` in `dir` (a whole tree if a directory).
    pub fn remove_at(&self, dir: &DirFd, name: &str) -> std::result::Result<(), (Errno, String)> {
        let Some(st) = stat_at(dir, name) else {
            return Ok(());
        };
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            let sub = self.open_subdir(dir, name)?;
            for child in list_dir(&sub) {
                self.remove_at(&sub, &child)?;
            }
            self.unlinkat(dir, name, true)
        } else {
            self.unlinkat(dir, name, false)
        }
    }

    /// openat(2) a log file by path for appending (made with `mode` if missing), narrated at
    /// `-vv` only; when calls are not made, the /dev/null stand-in (nothing is written).
    pub fn open_log(&self, path: &Path, mode: u32, why: &str) -> Result<std::fs::File> {
        let p = super::cstring(&path.to_string_lossy())?;
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND | libc::O_CLOEXEC;
        let build = || {
            Call::new(
                "openat",
                vec![
                    "AT_FDCWD".into(),
                    qpath(path),
                    format!("{}|O_APPEND", render_flags(flags as u64, OPEN_FLAGS)),
                    format!("0{mode:o}"),
                ],
                "openat(2)",
                why,
            )
        };
        let opened = self
            .quiet_call(build, || {
                cret(unsafe {
                    libc::openat(libc::AT_FDCWD, p.as_ptr(), flags, mode as libc::c_uint)
                })
            })
            .and_then(|fd| self.opened(fd).map_err(|e| (e, build().render())));
        opened.map(std::fs::File::from).map_err(|(errno, _)| {
            Error::sys(
                format!("cannot open the log {}", path.display()),
                errno,
                "check that glassbox's data directory is writable and not full",
            )
        })
    }

    /// openat(2) a directory by path with `O_PATH|O_DIRECTORY`, narrated at `-vv` only.
    fn open_dir_quietly(&self, path: &Path) -> std::result::Result<DirFd, (Errno, String)> {
        let p = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| (Errno::EINVAL, path.display().to_string()))?;
        let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
        let build = || {
            Call::new(
                "openat",
                vec![
                    "AT_FDCWD".into(),
                    qpath(path),
                    format!("O_RDONLY|{}", render_flags(flags as u64, OPEN_FLAGS)),
                ],
                "openat(2)",
                "the directory the tree to remove is in: every entry is removed relative to it",
            )
        };
        let fd = self.quiet_call(build, || {
            cret(unsafe { libc::openat(libc::AT_FDCWD, p.as_ptr(), flags) })
        })?;
        Ok(DirFd {
            fd: self.opened(fd).map_err(|e| (e, build().render()))?,
            shown: path.display().to_string(),
        })
    }

    /// renameat2(2), narrated at the normal level: the step that makes an export appear
    /// whole (`RENAME_EXCHANGE` swaps two directories in one step for `--force`).
    pub fn renameat2(&self, from: &Path, to: &Path, exchange: bool, why: &str) -> Result<()> {
        let f = super::cstring(&from.to_string_lossy())?;
        let t = super::cstring(&to.to_string_lossy())?;
        let (flags, flag) = rename_flags(exchange);
        let call = || {
            rename_call(from, to, flag, why).by_hand(if exchange {
                format!("mv -T --exchange {} {}", from.display(), to.display())
            } else {
                format!("mv -T {} {}", from.display(), to.display())
            })
        };
        self.call_plain(call, || {
            renameat2_raw(libc::AT_FDCWD, &f, libc::AT_FDCWD, &t, flags)
        })?;
        Ok(())
    }

    /// [`Sys::renameat2`] shown only at `-vv` (the store's bookkeeping), its error back as an
    /// `io::Error` for the caller to act on (AlreadyExists: the name is taken; NotFound:
    /// nothing there, or nothing to exchange with).
    pub fn rename_quietly(
        &self,
        from: &Path,
        to: &Path,
        exchange: bool,
        why: &str,
    ) -> std::io::Result<()> {
        let io = |e: Errno| std::io::Error::from_raw_os_error(e as i32);
        let f = CString::new(from.as_os_str().as_encoded_bytes()).map_err(|_| io(Errno::EINVAL))?;
        let t = CString::new(to.as_os_str().as_encoded_bytes()).map_err(|_| io(Errno::EINVAL))?;
        let (flags, flag) = rename_flags(exchange);
        let build = || rename_call(from, to, flag, why);
        let at = libc::AT_FDCWD;
        self.quiet_call(build, || renameat2_raw(at, &f, at, &t, flags))
            .map(|_| ())
            .map_err(|(e, _)| io(e))
    }
}

/// renameat2(2)'s flag for swapping two names, or for refusing to replace one, and its name.
fn rename_flags(exchange: bool) -> (libc::c_uint, &'static str) {
    match exchange {
        true => (libc::RENAME_EXCHANGE, "RENAME_EXCHANGE"),
        false => (libc::RENAME_NOREPLACE, "RENAME_NOREPLACE"),
    }
}

/// renameat2(2) between two paths, as narrated.
fn rename_call(from: &Path, to: &Path, flag: &str, why: &str) -> Call {
    Call::new(
        "renameat2",
        vec![
            "AT_FDCWD".into(),
            qpath(from),
            "AT_FDCWD".into(),
            qpath(to),
            flag.into(),
        ],
        "rename(2)",
        why,
    )
}

/// renameat2(2) itself, for the three ways it is narrated above (made raw: glibc's wrapper
/// is younger than some C libraries glassbox builds against).
fn renameat2_raw(
    from_dir: RawFd,
    from: &std::ffi::CStr,
    to_dir: RawFd,
    to: &std::ffi::CStr,
    flags: libc::c_uint,
) -> std::result::Result<i64, Errno> {
    check(unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            from_dir,
            from.as_ptr(),
            to_dir,
            to.as_ptr(),
            flags,
        )
    })
}

/// What is at `name` in `dir`, without following a symlink (fstatat(2), a read-only query).
pub fn stat_at(dir: &DirFd, name: &str) -> Option<libc::stat> {
    let n = CString::new(name).ok()?;
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::fstatat(dir.raw(), n.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
    (r == 0).then_some(st)
}

/// The names in a directory (getdents64 through nix), without `.` and `..`. The handle may
/// be an `O_PATH` one: the directory is opened for reading through it.
pub fn list_dir(dir: &DirFd) -> Vec<String> {
    let Ok(mut d) = nix::dir::Dir::openat(
        &dir.fd,
        ".",
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    ) else {
        return Vec::new();
    };
    d.iter()
        .map_while(|e| e.ok())
        .map(|e| e.file_name().to_owned())
        .filter(|n: &CString| n.as_bytes() != b"." && n.as_bytes() != b"..")
        .map(|n| String::from_utf8_lossy(n.as_bytes()).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::narrate::Narrator;
    use crate::sys::{DryRun, Kernel, Recorder};
    use std::io::Write;

    /// Every file and its contents under `dir`, to compare before and after.
    fn snapshot(dir: &Path) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            out.push((p.display().to_string(), format!("{:o}", m.mode())));
            if m.is_dir() {
                out.extend(snapshot(&p));
            } else if m.is_file() {
                out.push((
                    p.display().to_string(),
                    std::fs::read_to_string(&p).unwrap(),
                ));
            }
        }
        out.sort();
        out
    }

    fn a_tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("old/sub")).unwrap();
        std::fs::write(t.path().join("old/sub/f"), "kept").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", t.path().join("old/link")).unwrap();
        t
    }

    /// Copy a file into the tree as export and run do, then remove a tree.
    fn copy_and_remove(sys: &Sys, top: &Path) {
        let root = sys.open_tree_root(top, "a test").unwrap();
        sys.mkdirat(&root, "new", 0o755).unwrap();
        let new = sys.openat2_dir(&root, "new", RESOLVE_SCOPED).unwrap();
        let mut f = sys.create_file_at(&new, ".f.tmp", 0o644).unwrap();
        f.write_all(b"written").unwrap();
        sys.fchmod(f.as_raw_fd(), "new/.f.tmp", 0o600).unwrap();
        sys.rename_at(&new, ".f.tmp", "f", "a test").unwrap();
        sys.symlinkat("f", &new, "l").unwrap();
        sys.remove_tree(&top.join("old")).unwrap();
    }

    use std::os::unix::fs::MetadataExt;

    #[test]
    fn the_recorder_logs_a_tree_copy_and_remove_and_nothing_changes() {
        let t = a_tree();
        let before = snapshot(t.path());
        let narrator = Narrator::silent();
        let recorder = Recorder::new();
        copy_and_remove(&Sys::with_kernel(&narrator, &recorder), t.path());
        assert_eq!(snapshot(t.path()), before, "the recorder changed the tree");
        assert_eq!(
            recorder.names(),
            [
                "openat",
                "mkdirat",
                "openat2",
                "openat",
                "fchmod",
                "renameat2",
                "symlinkat",
                "openat",
                "openat",
                "unlinkat",
            ]
        );
        let lines = recorder.lines();
        assert!(lines[3].contains("\".f.tmp\", O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC"));
        assert!(
            lines[9].ends_with("\"old\", AT_REMOVEDIR)"),
            "the tree itself is removed last: {}",
            lines[9]
        );
    }

    #[test]
    fn a_dry_run_tree_copy_and_remove_touches_nothing() {
        let t = a_tree();
        let before = snapshot(t.path());
        let narrator = Narrator::silent();
        assert!(!DryRun.makes_calls());
        copy_and_remove(&Sys::with_kernel(&narrator, &DryRun), t.path());
        assert_eq!(snapshot(t.path()), before, "the dry run changed the tree");
    }

    #[test]
    fn a_real_tree_remove_removes_it_without_following_links() {
        let t = a_tree();
        let narrator = Narrator::silent();
        Sys::new(&narrator)
            .remove_tree(&t.path().join("old"))
            .unwrap();
        assert!(!t.path().join("old").exists());
        assert!(Path::new("/etc/passwd").exists());
    }
}
