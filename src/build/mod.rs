//! `glassbox build`: an image from a Dockerfile, one step an instruction, as docker's classic
//! builder makes it. RUN is a glassbox container made by `run` itself (network none), whose
//! upper directory becomes a layer as `commit` makes it; COPY and ADD write the context's
//! files into a layer tar applied through the root-scoped extractor; the other instructions
//! change only the image's config. Every step's image is kept without a name, and the build
//! cache maps (parent image, instruction, copied files' checksum) to it: an unchanged
//! rebuild reuses every step and makes no container.

pub mod context;
pub mod dockerfile;

use crate::cli::BuildArgs;
use crate::error::{Error, Result};
use crate::stages::export::config::ImageConfig;
use crate::store::images::{self as store, History, ImageRecord, Layer};
use crate::sys::Sys;
use dockerfile::{command_form, default_shell, expand, words, Instruction};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One stage's state as the build goes: its image so far (None: `FROM scratch` before its
/// first layer), its config, and the cache's key for what it is.
struct Stage {
    name: Option<String>,
    image: Option<ImageRecord>,
    config: ImageConfig,
    chain: String,
    /// A CMD was given in this stage (a later ENTRYPOINT then keeps it, as docker does).
    cmd_set: bool,
    /// History lines of config steps made before a `FROM scratch` stage has an image.
    pending: Vec<History>,
    /// The shell form's shell (SHELL), `/bin/sh -c` until changed.
    shell: Vec<String>,
}

struct Build<'a> {
    sys: &'a Sys<'a>,
    quiet: bool,
    no_cache: bool,
    context: PathBuf,
    /// ARG and ENV values for expansion, latest last.
    vars: Vec<(String, String)>,
    /// ARGs declared in this stage with their values: RUN's environment, not the image's.
    args: Vec<(String, String)>,
    build_args: Vec<(String, String)>,
    done: Vec<Stage>,
}

pub fn main(a: &BuildArgs, sys: &Sys, quiet: bool) -> Result<i32> {
    crate::images::need_root("build")?;
    let tags = a
        .tag
        .iter()
        .map(|t| crate::store::reference::parse(t))
        .collect::<Result<Vec<_>>>()?;
    let context = std::fs::canonicalize(&a.context).map_err(|e| {
        Error::io(
            format!("cannot open the build context {}", a.context.display()),
            &e,
            "give the directory that holds the Dockerfile and the files it copies",
        )
    })?;
    let file = a.file.clone().unwrap_or_else(|| context.join("Dockerfile"));
    let text = std::fs::read_to_string(&file).map_err(|e| {
        Error::io(
            format!("cannot read the Dockerfile {}", file.display()),
            &e,
            "put a Dockerfile in the context, or name it with -f",
        )
    })?;
    let parsed = dockerfile::parse(&text)?;
    // What a killed build or pull left in the layers directory goes before this one adds its own.
    let sweep = || {
        crate::images::unpack::sweep(sys, &crate::store::layers_dir());
        Ok(())
    };
    sys.compound("", sweep, || ())?;
    for n in &parsed.notes {
        sys.narrator.note(n);
    }
    let build_args = a
        .build_arg
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => std::env::var(kv).map(|v| (kv.clone(), v)).map_err(|_| {
                Error::usage(format!("--build-arg {kv} has no value"), "give NAME=VALUE")
            }),
        })
        .collect::<Result<Vec<_>>>()?;
    let mut b = Build {
        sys,
        quiet,
        no_cache: a.no_cache,
        context,
        vars: Vec::new(),
        args: Vec::new(),
        build_args,
        done: Vec::new(),
    };
    let all = &parsed.instructions;
    let mut stage: Option<Stage> = None;
    for (i, ins) in all.iter().enumerate() {
        b.say(&format!("Step {}/{} : {}", i + 1, all.len(), ins.text()));
        if ins.keyword == "FROM" {
            if let Some(s) = stage.take() {
                let target = a.target.is_some() && s.name == a.target;
                b.done.push(s);
                if target {
                    break;
                }
            }
            stage = Some(b.from(ins)?);
            continue;
        }
        let Some(s) = stage.as_mut() else {
            // ARG before the first FROM: for FROM lines only.
            b.arg(ins, None)?;
            continue;
        };
        b.step(s, ins).map_err(|e| e.at_line(ins))?;
    }
    if let Some(s) = stage.take() {
        b.done.push(s);
    }
    let last = match &a.target {
        Some(t) => b
            .done
            .iter()
            .find(|s| s.name.as_deref() == Some(t))
            .ok_or_else(|| {
                Error::usage(
                    format!("no stage is named {t}"),
                    "give --target a name from a FROM … AS NAME line",
                )
            })?,
        None => b.done.last().expect("FROM comes first"),
    };
    let Some(image) = &last.image else {
        return Err(Error::usage(
            "the image has no layer: FROM scratch and nothing copied into it",
            "COPY or ADD at least one file after FROM scratch",
        ));
    };
    b.say(&format!("Successfully built {}", image.short_id()));
    for t in &tags {
        store::tag(&image.id, t)?;
        b.say(&format!("Successfully tagged {t}"));
    }
    if quiet {
        crate::outln!("sha256:{}", image.id);
    }
    Ok(0)
}

trait AtLine {
    fn at_line(self, ins: &Instruction) -> Self;
}

impl AtLine for Error {
    /// The failing instruction and its line, in front of what failed.
    fn at_line(mut self, ins: &Instruction) -> Self {
        self.what = format!("line {} ({}): {}", ins.line, ins.keyword, self.what);
        self
    }
}

impl Build<'_> {
    /// docker's build output, on stdout; `-q` keeps only the id.
    fn say(&self, line: &str) {
        if !self.quiet {
            crate::outln!("{line}");
        }
    }

    fn from(&mut self, ins: &Instruction) -> Result<Stage> {
        let w = words(&expand(&ins.rest, &self.vars));
        let (base, name) = match w.as_slice() {
            [b] => (b.clone(), None),
            [b, as_, n] if as_.eq_ignore_ascii_case("as") => (b.clone(), Some(n.clone())),
            _ => {
                return Err(Error::usage(
                    format!("line {}: FROM needs IMAGE [AS NAME]", ins.line),
                    "write FROM busybox, or FROM busybox AS build",
                ))
            }
        };
        // ARGs of one stage do not reach the next; ENV starts again from the base.
        self.args.clear();
        self.vars
            .retain(|(k, _)| self.build_args.iter().any(|(b, _)| b == k));
        let stage = if base == "scratch" {
            self.sys
                .narrator
                .note("FROM scratch: an empty image, with no layer yet");
            Stage {
                name,
                image: None,
                config: ImageConfig::default(),
                chain: "scratch".into(),
                cmd_set: false,
                pending: Vec::new(),
                shell: default_shell(),
            }
        } else if let Some(s) = self.done.iter().find(|s| s.name.as_deref() == Some(&base)) {
            Stage {
                name,
                image: s.image.clone(),
                config: s.config.clone(),
                chain: s.chain.clone(),
                cmd_set: false,
                pending: s.pending.clone(),
                shell: s.shell.clone(),
            }
        } else {
            let rec = base_image(self.sys, &base)?;
            let config = rec.config()?.config;
            Stage {
                name,
                chain: rec.id.clone(),
                image: Some(rec),
                // The base image's SHELL, as docker inherits it.
                shell: Some(config.shell.clone())
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(default_shell),
                config,
                cmd_set: false,
                pending: Vec::new(),
            }
        };
        for e in &stage.config.env {
            if let Some((k, v)) = e.split_once('=') {
                self.vars.push((k.into(), v.into()));
            }
        }
        self.say(&format!(" ---> {}", shown(&stage)));
        Ok(stage)
    }

    fn arg(&mut self, ins: &Instruction, stage: Option<&mut Stage>) -> Result<()> {
        for w in words(&ins.rest) {
            let (k, default) = match w.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(expand(v, &self.vars))),
                None => (w.clone(), None),
            };
            let given = self
                .build_args
                .iter()
                .rev()
                .find(|(b, _)| *b == k)
                .map(|(_, v)| v.clone());
            if let Some(v) = given.or(default) {
                self.vars.push((k.clone(), v.clone()));
                self.args.push((k, v));
            }
        }
        if let Some(s) = stage {
            // docker keys later RUN steps on the ARG values; a config image is not needed.
            s.chain = store::sha256_hex(format!("{} {:?}", s.chain, self.args).as_bytes());
        }
        Ok(())
    }

    fn step(&mut self, s: &mut Stage, ins: &Instruction) -> Result<()> {
        let kw = ins.keyword.as_str();
        if kw == "ARG" {
            self.arg(ins, Some(s))?;
            self.say(&format!(" ---> {}", shown(s)));
            return Ok(());
        }
        match kw {
            "RUN" => self.run(s, ins),
            "COPY" | "ADD" => self.copy(s, ins),
            "SHELL" => {
                s.shell = serde_json::from_str::<Vec<String>>(&ins.rest)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| {
                        Error::usage(
                            "SHELL takes only the exec form, a JSON list",
                            r#"write SHELL ["/bin/sh", "-c"]"#,
                        )
                    })?;
                let by = format!("/bin/sh -c #(nop)  SHELL {}", ins.rest);
                let mut config = s.config.clone();
                config.shell = s.shell.clone();
                self.commit_step(s, &by, config, None, &by)
            }
            _ => {
                // CMD and ENTRYPOINT are left to the shell at run time, as docker leaves them.
                let text = match kw {
                    "CMD" | "ENTRYPOINT" => ins.rest.clone(),
                    _ => expand(&ins.rest, &self.vars),
                };
                let mut config = s.config.clone();
                self.configure(&mut config, kw, &text, s.cmd_set, &s.shell)?;
                s.cmd_set |= kw == "CMD";
                let by = format!("/bin/sh -c #(nop)  {kw} {text}");
                self.commit_step(s, &by, config, None, &by)
            }
        }
    }

    /// A config-only instruction applied to `c`.
    fn configure(
        &mut self,
        c: &mut ImageConfig,
        kw: &str,
        text: &str,
        cmd_set: bool,
        shell: &[String],
    ) -> Result<()> {
        match kw {
            "CMD" => c.cmd = Some(command_form(text, shell)),
            "ENTRYPOINT" => {
                c.entrypoint = Some(command_form(text, shell));
                // docker: a new ENTRYPOINT drops the CMD inherited from the base image (not
                // one this stage set).
                if !cmd_set {
                    c.cmd = None;
                }
            }
            "ENV" => {
                let w = words(text);
                let pairs: Vec<(String, String)> = if w.len() >= 2 && !w[0].contains('=') {
                    let (k, v) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
                    vec![(k.into(), v.trim().into())]
                } else {
                    w.iter()
                        .map(|kv| {
                            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                            (k.to_string(), v.to_string())
                        })
                        .collect()
                };
                for (k, v) in pairs {
                    crate::run::config::set_env(&mut c.env, format!("{k}={v}"));
                    self.vars.push((k, v));
                }
            }
            "WORKDIR" => {
                let base = Path::new(if c.working_dir.is_empty() {
                    "/"
                } else {
                    &c.working_dir
                });
                c.working_dir = base.join(text).to_string_lossy().into_owned();
            }
            "USER" => c.user = text.to_string(),
            "EXPOSE" => {
                for p in words(text) {
                    let p = if p.contains('/') {
                        p
                    } else {
                        format!("{p}/tcp")
                    };
                    if !c.exposed_ports.contains(&p) {
                        c.exposed_ports.push(p);
                    }
                }
                c.exposed_ports.sort();
            }
            "VOLUME" => {
                let paths = if text.starts_with('[') {
                    serde_json::from_str::<Vec<String>>(text).unwrap_or_default()
                } else {
                    words(text)
                };
                for p in paths {
                    if !c.volumes.contains(&p) {
                        c.volumes.push(p);
                    }
                }
                c.volumes.sort();
            }
            "LABEL" => {
                for kv in words(text) {
                    let (k, v) = kv.split_once('=').unwrap_or((&kv, ""));
                    c.labels.insert(k.to_string(), v.to_string());
                }
            }
            "STOPSIGNAL" => c.stop_signal = text.to_string(),
            _ => unreachable!("the parser lets only supported instructions through"),
        }
        Ok(())
    }

    /// The cache's image for this step, if it has one and it is still in the store.
    fn cached(&self, key: &str) -> Option<ImageRecord> {
        if self.no_cache {
            return None;
        }
        let id = std::fs::read_to_string(cache_dir().join(key)).ok()?;
        store::find(id.trim()).ok().flatten()
    }

    /// Record the step's result: a new image over the stage's (or the cached one).
    fn commit_step(
        &mut self,
        s: &mut Stage,
        key_text: &str,
        config: ImageConfig,
        layer: Option<Layer>,
        created_by: &str,
    ) -> Result<()> {
        let key = store::sha256_hex(format!("{}\n{key_text}", s.chain).as_bytes());
        if let Some(rec) = self.cached(&key) {
            self.say(" ---> Using cache");
            s.config = rec.config()?.config;
            s.chain = rec.id.clone();
            s.image = Some(rec);
            self.say(&format!(" ---> {}", shown(s)));
            return Ok(());
        }
        s.config = config;
        match (&s.image, layer) {
            (None, None) => {
                s.chain = key;
                s.pending.push(history_line(created_by, true));
            }
            (parent, layer) => {
                let before = std::mem::take(&mut s.pending);
                let rec = write_image(parent.as_ref(), &before, layer, &s.config, created_by)?;
                remember(&key, &rec.id)?;
                s.chain = rec.id.clone();
                s.image = Some(rec);
            }
        }
        self.say(&format!(" ---> {}", shown(s)));
        Ok(())
    }

    fn run(&mut self, s: &mut Stage, ins: &Instruction) -> Result<()> {
        let script = shebang_script(ins);
        let command = match script {
            Some(h) => vec![format!("{PIPES}/{}", h.name)],
            None => run_command(ins, &s.shell),
        };
        let key_text = match script {
            Some(h) => format!("RUN {:?} {:?} {:?}", command, h.body, self.args),
            None => format!("RUN {:?} {:?}", command, self.args),
        };
        let key = store::sha256_hex(format!("{}\n{key_text}", s.chain).as_bytes());
        if self.cached(&key).is_some() {
            return self.commit_step(s, &key_text, s.config.clone(), None, "");
        }
        let Some(parent) = s.image.clone() else {
            return Err(Error::usage(
                "RUN needs an image with a shell: FROM scratch has none yet",
                "build FROM an image (busybox, alpine), or COPY a shell in first",
            ));
        };
        let name = format!("gb-build-{}", crate::run::config::new_id());
        self.say(&format!(" ---> Running in {name}"));
        let mut cmd = glassbox(self.quiet)?;
        cmd.args([
            "run",
            "--name",
            &name,
            "--network",
            "none",
            "--entrypoint",
            "",
        ]);
        for (k, v) in &self.args {
            cmd.args(["-e", &format!("{k}={v}")]);
        }
        let _pipes = match script {
            Some(h) => {
                let dir = self.script_dir(h)?;
                cmd.args(["--volume", &format!("{}:{PIPES}:ro", dir.0.display())]);
                Some(dir)
            }
            None => None,
        };
        cmd.arg(&parent.id).args(&command).stdin(Stdio::null());
        if self.quiet {
            cmd.stdout(Stdio::null());
        }
        let status = cmd.status().map_err(|e| {
            Error::io(
                "cannot start glassbox run for the RUN step",
                &e,
                "check that the glassbox binary is still there",
            )
        })?;
        let made = match status.code() {
            Some(0) => crate::store::containers::find(&name)
                .and_then(|c| crate::images::commit::layer_of(self.sys, &c, &parent))
                .map(|(l, _)| l),
            code => Err(Error::new(
                format!(
                    "the command '{}' returned a non-zero code: {}",
                    command.join(" "),
                    code.unwrap_or(1)
                ),
                "fix the command in the Dockerfile (the steps before it are cached: the next build starts here)",
            )
            .with_code(code.unwrap_or(1))),
        };
        // The step's container goes, whatever happened: no half image, no container left.
        let _ = glassbox(true).map(|mut c| {
            c.args(["rm", "-f", "--volumes", &name])
                .stdout(Stdio::null())
                .status()
        });
        self.say(&format!("Removing intermediate container {name}"));
        let layer = made?;
        let by = command.join(" ");
        let config = s.config.clone();
        self.commit_step(s, &key_text, config, Some(layer), &by)
    }

    fn copy(&mut self, s: &mut Stage, ins: &Instruction) -> Result<()> {
        let (flags, rest) = ins.flags();
        let mut w = if rest.trim_start().starts_with('[') {
            serde_json::from_str::<Vec<String>>(&rest).unwrap_or_default()
        } else {
            words(&rest)
        };
        w = w.iter().map(|x| expand(x, &self.vars)).collect();
        if w.len() < 2 {
            return Err(Error::usage(
                format!("{} needs a source and a destination", ins.keyword),
                format!("write {} SRC… DEST", ins.keyword),
            ));
        }
        let dest = w.pop().expect("two words");
        let wd = if s.config.working_dir.is_empty() {
            "/"
        } else {
            &s.config.working_dir
        };
        let joined = Path::new(wd).join(&dest).to_string_lossy().into_owned();
        let mut dest_abs = format!(
            "/{}",
            context::inside(&joined, "the destination")?.display()
        );
        if dest.ends_with('/') && !dest_abs.ends_with('/') {
            dest_abs.push('/');
        }
        let mut chown = None;
        let mut tree = context::Tree {
            roots: vec![self.context.clone()],
            context: true,
            ignore: context::Ignore::load(&self.context),
        };
        for (k, v) in &flags {
            match k.as_str() {
                "chown" => {
                    let layers: Vec<PathBuf> = s
                        .image
                        .iter()
                        .flat_map(|i| i.layers.iter().rev().map(|l| l.dir.clone()))
                        .collect();
                    let refs: Vec<&Path> = layers.iter().map(|p| p.as_path()).collect();
                    chown = Some(crate::run::config::resolve_user(
                        &expand(v, &self.vars),
                        &refs,
                    )?);
                }
                "from" if ins.keyword == "COPY" => {
                    let image = match self
                        .done
                        .iter()
                        .enumerate()
                        .find(|(i, st)| st.name.as_deref() == Some(v) || i.to_string() == *v)
                    {
                        Some((_, st)) => st.image.clone(),
                        None => Some(base_image(self.sys, v)?),
                    };
                    tree = context::Tree {
                        roots: image
                            .iter()
                            .flat_map(|i| i.layers.iter().map(|l| l.dir.clone()))
                            .collect(),
                        context: false,
                        ignore: context::Ignore(Vec::new()),
                    };
                }
                _ => {
                    return Err(Error::usage(
                        format!("{} --{k} is not supported", ins.keyword),
                        "glassbox takes COPY --from=STAGE and --chown=USER[:GROUP]",
                    ))
                }
            }
        }
        let layers_dir = crate::store::layers_dir();
        store::make_dirs(&layers_dir)?;
        let tar = TempTar(layers_dir.join(format!(".build-{}.tar", std::process::id())));
        let archive =
            (ins.keyword == "ADD" && tree.context && w.len() == 1 && context::is_archive(&w[0]))
                .then(|| context::inside(&w[0], "the source"))
                .transpose()?;
        let written = match &archive {
            Some(rel) => {
                if std::fs::symlink_metadata(self.context.join(rel)).is_ok_and(|m| !m.is_file()) {
                    return Err(Error::usage(
                        format!("ADD {}: not a regular file", w[0]),
                        "ADD an archive file of the context",
                    ));
                }
                self.sys.narrator.note("ADD of a local archive: its entries are unpacked into the destination, through the same root-scoped extractor as an image layer");
                context::retar_archive(&self.context.join(rel), &dest_abs, tar.0.as_path())?
            }
            None => {
                let lower: Vec<PathBuf> = s
                    .image
                    .iter()
                    .flat_map(|i| i.layers.iter().map(|l| l.dir.clone()))
                    .collect();
                if ins.heredocs.is_empty() {
                    context::write_tar(&tree, &w, &dest_abs, chown, &lower, tar.0.as_path())?
                } else {
                    let docs = self.heredoc_files(ins, &w)?;
                    context::write_heredocs(&docs, &dest_abs, chown, &lower, tar.0.as_path())?
                }
            }
        };
        self.sys.narrator.note(&format!(
            "{} files copied into a layer tar ({}); checksum {}",
            written.files,
            tar.0.as_path().display(),
            &written.checksum[..12]
        ));
        let text = format!("{} {}", ins.keyword, w.join(" "));
        let key_text = format!("{text} {dest_abs} {flags:?} sum:{}", written.checksum);
        let key = store::sha256_hex(format!("{}\n{key_text}", s.chain).as_bytes());
        let layer = match self.cached(&key) {
            Some(_) => None,
            None => Some(self.layer_from_tar(s, tar.0.as_path())?),
        };
        let by = format!(
            "/bin/sh -c #(nop) {} {} in {dest_abs}",
            ins.keyword,
            w.join(" ")
        );
        let config = s.config.clone();
        self.commit_step(s, &key_text, config, layer, &by)
    }

    /// The `#!` here-document as an executable file, alone in a directory of the data dir
    /// that RUN's container gets read-only at /dev/pipes (BuildKit's place: /dev is the
    /// container's own tmpfs, so nothing of it lands in the layer).
    fn script_dir(&self, h: &dockerfile::Heredoc) -> Result<TempDir> {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir(
            crate::store::layers_dir().join(format!(".build-pipes-{}", std::process::id())),
        );
        let file = dir.0.join(&h.name);
        self.sys.narrator.note(&format!(
            "RUN <<{}: it starts with #!, so it is a script file run by the kernel with that interpreter (as BuildKit does), not text for the shell: written to {} and bound read-only at {PIPES}",
            h.name,
            file.display()
        ));
        std::fs::create_dir_all(&dir.0)
            .and_then(|_| std::fs::write(&file, &h.body))
            .and_then(|_| std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)))
            .map_err(|e| {
                Error::io(
                    format!("cannot write the RUN script {}", file.display()),
                    &e,
                    "check that the data directory has room",
                )
            })?;
        Ok(dir)
    }

    /// COPY <<NAME DEST: each source is a here-document, its text expanded unless its name
    /// was quoted.
    fn heredoc_files(
        &self,
        ins: &Instruction,
        sources: &[String],
    ) -> Result<Vec<(String, String)>> {
        sources
            .iter()
            .map(|src| {
                let h = src
                    .strip_prefix("<<")
                    .map(|n| n.trim_start_matches('-').trim_matches(['"', '\'']))
                    .and_then(|n| ins.heredocs.iter().find(|h| h.name == n))
                    .ok_or_else(|| {
                        Error::usage(
                            format!(
                                "{} {src}: here-documents and files in one {}",
                                ins.keyword, ins.keyword
                            ),
                            "copy here-documents and context files in separate instructions",
                        )
                    })?;
                let text = if h.quoted {
                    h.body.clone()
                } else {
                    expand(&h.body, &self.vars)
                };
                Ok((h.name.clone(), text))
            })
            .collect()
    }

    /// The tar into the content store, then unpacked as a layer over the stage's image.
    fn layer_from_tar(&self, s: &Stage, tar: &Path) -> Result<Layer> {
        let bytes_hex = {
            use sha2::{Digest, Sha256};
            let mut h = Sha256::new();
            let mut f = std::fs::File::open(tar).map_err(|e| {
                Error::io("cannot read the layer tar", &e, "check the data directory")
            })?;
            std::io::copy(&mut f, &mut h).map_err(|e| {
                Error::io("cannot read the layer tar", &e, "check the data directory")
            })?;
            crate::stages::export::stream::hex(&h.finalize())
        };
        let digest = format!("sha256:{bytes_hex}");
        let size = std::fs::metadata(tar).map(|m| m.len()).unwrap_or(0);
        let mut f = std::fs::File::open(tar)
            .map_err(|e| Error::io("cannot read the layer tar", &e, "check the data directory"))?;
        crate::store::blobs::write(&digest, size, &mut f, "the copied files")?;
        let mut diff_ids: Vec<String> = match &s.image {
            Some(i) => i.layers.iter().map(|l| l.diff_id.clone()).collect(),
            None => Vec::new(),
        };
        diff_ids.push(digest.clone());
        let (layer, _) = crate::images::unpack::unpack(self.sys, &digest, &diff_ids)?;
        Ok(layer)
    }
}

fn shown(s: &Stage) -> String {
    match &s.image {
        Some(i) => i.short_id().to_string(),
        None => "scratch".into(),
    }
}

/// RUN's command. A lone `RUN <<EOF` runs the here-document as the shell's script; a command
/// with here-documents (`RUN cat <<EOF > /f`) goes to the shell whole, which reads them itself.
fn run_command(ins: &Instruction, shell: &[String]) -> Vec<String> {
    let mut c = shell.to_vec();
    match ins.heredocs.as_slice() {
        [] => return command_form(&ins.rest, shell),
        [h] if ins.rest.trim().starts_with("<<") && !ins.rest.trim().contains(' ') => {
            c.push(h.body.clone())
        }
        docs => {
            let mut script = ins.rest.clone();
            for h in docs {
                script.push_str(&format!("\n{}{}", h.body, h.name));
            }
            c.push(script);
        }
    }
    c
}

/// Where RUN's container sees a `#!` here-document's script file, as BuildKit puts it.
const PIPES: &str = "/dev/pipes";

/// A lone `RUN <<EOF` whose text starts with `#!`: run as a file, by its interpreter.
fn shebang_script(ins: &Instruction) -> Option<&dockerfile::Heredoc> {
    match ins.heredocs.as_slice() {
        [h] if ins.rest.trim().starts_with("<<")
            && !ins.rest.trim().contains(' ')
            && h.body.starts_with("#!") =>
        {
            Some(h)
        }
        _ => None,
    }
}

/// glassbox itself, for the steps that are glassbox containers.
fn glassbox(quiet: bool) -> Result<Command> {
    let mut c = crate::host::glassbox_command()?;
    if quiet {
        c.arg("-q");
    }
    Ok(c)
}

/// The base image as a record of the store (busybox and image files are exported once).
fn base_image(sys: &Sys, name: &str) -> Result<ImageRecord> {
    if let Ok(Some(r)) = store::find(name) {
        return crate::images::firstuse::ensure(sys, r);
    }
    let img = crate::images::resolve::resolve_pulling(sys, name, None)?;
    // The exported image itself, not a built step that shares its layers.
    let mut same: Vec<ImageRecord> = store::list()
        .into_iter()
        .filter(|i| i.is_stack(&img.rootfs, &img.layers))
        .collect();
    same.sort_by_key(|i| i.parent.is_some());
    if let Some(r) = same.into_iter().next() {
        return Ok(r);
    }
    crate::images::resolve::register_export(sys, &img.rootfs, name)
}

fn cache_dir() -> PathBuf {
    crate::store::data_dir().join("build-cache")
}

fn remember(key: &str, id: &str) -> Result<()> {
    store::make_dirs(&cache_dir())?;
    std::fs::write(cache_dir().join(key), id).map_err(|e| {
        Error::io(
            "cannot write the build cache",
            &e,
            "check the data directory (or build with --no-cache)",
        )
    })
}

fn history_line(created_by: &str, empty_layer: bool) -> History {
    History {
        created: store::rfc3339(crate::store::now()),
        created_by: created_by.to_string(),
        comment: None,
        empty_layer,
    }
}

/// A new image: the parent's layers (plus `layer`), `config`, and a history line (after
/// `before`, the config steps of a scratch stage that had no image yet).
fn write_image(
    parent: Option<&ImageRecord>,
    before: &[History],
    layer: Option<Layer>,
    config: &ImageConfig,
    created_by: &str,
) -> Result<ImageRecord> {
    let (mut diff_ids, mut history, mut layers) = match parent {
        Some(p) => {
            let c = p.config()?;
            (c.rootfs.diff_ids, c.history, p.layers.clone())
        }
        None => Default::default(),
    };
    let now = crate::store::now();
    history.extend_from_slice(before);
    history.push(history_line(created_by, layer.is_none()));
    if let Some(l) = layer {
        diff_ids.push(l.diff_id.clone());
        layers.push(l);
    }
    let bytes = store::config_blob(config, diff_ids, history, now, None).to_bytes();
    let rec = ImageRecord {
        id: store::sha256_hex(&bytes),
        names: Vec::new(),
        layers,
        created: now,
        parent: parent.map(|p| p.id.clone()),
        blobs: Vec::new(),
    };
    let _lock = store::lock()?;
    store::write(&rec, &bytes)?;
    Ok(rec)
}

/// The layer tar COPY writes, removed when the step is done (or has failed).
struct TempTar(PathBuf);

impl Drop for TempTar {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The RUN script's directory, removed when the step is done (or has failed).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
