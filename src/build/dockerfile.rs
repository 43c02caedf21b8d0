//! A Dockerfile read into instructions, each with the line it starts on: line continuations
//! joined, comments dropped, parser directives (`# syntax=…`) noted and ignored, and any
//! instruction glassbox does not build refused with its line number.

use crate::error::{Error, Result};

/// The instructions `glassbox build` carries out.
pub const SUPPORTED: &[&str] = &[
    "FROM",
    "RUN",
    "COPY",
    "ADD",
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "ARG",
    "WORKDIR",
    "USER",
    "EXPOSE",
    "LABEL",
    "VOLUME",
    "STOPSIGNAL",
    "SHELL",
];

#[derive(Debug, Clone, PartialEq)]
pub struct Instruction {
    /// The line it starts on (1 = the first).
    pub line: usize,
    /// FROM, RUN, … in capitals.
    pub keyword: String,
    /// Everything after the keyword, continuations joined by a space.
    pub rest: String,
    /// The here-documents (`<<EOF` … `EOF`) the line opens, in order.
    pub heredocs: Vec<Heredoc>,
}

/// One here-document: `<<NAME` on the instruction's line, its lines, then `NAME`.
#[derive(Debug, Clone, PartialEq)]
pub struct Heredoc {
    pub name: String,
    pub body: String,
    /// `<<"EOF"` or `<<'EOF'`: no variable is expanded in the body.
    pub quoted: bool,
}

/// The `<<[-]WORD` markers of a line, with whether `-` strips leading tabs and whether WORD
/// is quoted (`<<<`, a shell here-string, is not one).
pub fn heredoc_markers(line: &str) -> Vec<(String, bool, bool)> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("<<") {
        let after = &rest[i + 2..];
        rest = after;
        if after.starts_with('<') {
            rest = after.trim_start_matches('<');
            continue;
        }
        let (strip, after) = match after.strip_prefix('-') {
            Some(a) => (true, a),
            None => (false, after),
        };
        let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'');
        let word = &after[quote.map_or(0, |_| 1)..];
        let n = word
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-'))
            .unwrap_or(word.len());
        if word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            out.push((word[..n].to_string(), strip, quote.is_some()));
        }
    }
    out
}

impl Instruction {
    /// As docker prints it in `Step 3/7 : RUN …`.
    pub fn text(&self) -> String {
        format!("{} {}", self.keyword, self.rest)
    }
    /// Leading `--name=value` flags (COPY --from=…, --chown=…) and what follows them.
    pub fn flags(&self) -> (Vec<(String, String)>, String) {
        let mut flags = Vec::new();
        let mut rest = self.rest.trim();
        while let Some(f) = rest.strip_prefix("--") {
            let (word, after) = f.split_once(char::is_whitespace).unwrap_or((f, ""));
            let (k, v) = word.split_once('=').unwrap_or((word, ""));
            flags.push((k.to_string(), v.to_string()));
            rest = after.trim_start();
        }
        (flags, rest.to_string())
    }
}

/// The result of reading a Dockerfile: its instructions and notes for the user.
pub struct Parsed {
    pub instructions: Vec<Instruction>,
    pub notes: Vec<String>,
}

pub fn parse(text: &str) -> Result<Parsed> {
    let mut notes = Vec::new();
    let mut instructions = Vec::new();
    let mut directives = true;
    let mut pending: Option<(usize, String)> = None;
    let mut lines = text.lines().enumerate();
    while let Some((i, raw)) = lines.next() {
        let line = raw.trim();
        if let Some(d) = line.strip_prefix('#') {
            // Parser directives come first, before any comment or instruction.
            let d = d.trim();
            if directives && d.split_once('=').is_some_and(|(k, _)| !k.contains(' ')) {
                notes.push(format!(
                    "line {}: the parser directive {d:?} is ignored (glassbox reads one Dockerfile syntax, with \\ as the escape)",
                    i + 1
                ));
            } else {
                directives = false;
            }
            continue; // comments inside a continued instruction are dropped too
        }
        directives = false;
        if line.is_empty() && pending.is_none() {
            continue;
        }
        let (start, mut acc) = pending.take().unwrap_or((i + 1, String::new()));
        match line.strip_suffix('\\') {
            Some(part) => {
                acc.push_str(part);
                pending = Some((start, acc));
            }
            None => {
                acc.push_str(line);
                let mut ins = instruction(start, &acc)?;
                // Each `<<WORD` of a RUN, COPY or ADD takes the lines after it, up to WORD.
                if matches!(ins.keyword.as_str(), "RUN" | "COPY" | "ADD") {
                    for (name, strip_tabs, quoted) in heredoc_markers(&ins.rest) {
                        let mut body = String::new();
                        let mut closed = false;
                        for (_, l) in lines.by_ref() {
                            let l = if strip_tabs {
                                l.trim_start_matches('\t')
                            } else {
                                l
                            };
                            if l == name {
                                closed = true;
                                break;
                            }
                            body.push_str(l);
                            body.push('\n');
                        }
                        if !closed {
                            return Err(Error::usage(
                                format!("line {start}: the here-document <<{name} has no line {name} to end it"),
                                format!("end it with a line that holds only {name}"),
                            ));
                        }
                        ins.heredocs.push(Heredoc { name, body, quoted });
                    }
                }
                instructions.push(ins);
            }
        }
    }
    if let Some((start, acc)) = pending {
        instructions.push(instruction(start, &acc)?);
    }
    if instructions
        .first()
        .is_none_or(|i| i.keyword != "FROM" && i.keyword != "ARG")
    {
        return Err(Error::usage(
            "the Dockerfile does not start with FROM",
            "begin it with FROM IMAGE (or FROM scratch); only ARG may come before FROM",
        ));
    }
    Ok(Parsed {
        instructions,
        notes,
    })
}

fn instruction(line: usize, text: &str) -> Result<Instruction> {
    let text = text.trim();
    let (word, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let keyword = word.to_ascii_uppercase();
    if !SUPPORTED.contains(&keyword.as_str()) {
        return Err(Error::usage(
            format!("line {line}: the instruction {word} is not supported by glassbox build"),
            format!("use only {}", SUPPORTED.join(", ")),
        ));
    }
    Ok(Instruction {
        line,
        keyword,
        rest: rest.trim().to_string(),
        heredocs: Vec::new(),
    })
}

/// The shell of the shell form until a SHELL instruction changes it.
pub fn default_shell() -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into()]
}

/// CMD, ENTRYPOINT, RUN: the JSON exec form as it is, else the shell form: `shell` (as SHELL
/// set it, `/bin/sh -c` by default) with the text as its last argument.
pub fn command_form(rest: &str, shell: &[String]) -> Vec<String> {
    let rest = rest.trim();
    if rest.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Vec<String>>(rest) {
            return v;
        }
    }
    let mut c = shell.to_vec();
    c.push(rest.into());
    c
}

/// Words split as a shell would for ENV/LABEL/ARG/EXPOSE/VOLUME: on blanks, with double or
/// single quotes kept together and removed.
pub fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '"' | '\'') => {
                quote = Some(c);
                any = true;
            }
            (_, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (_, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `$NAME` and `${NAME}` replaced from `vars` (empty when unset), as docker expands
/// ENV, ARG, COPY, WORKDIR, USER… (not RUN: the shell does that).
pub fn expand(s: &str, vars: &[(String, String)]) -> String {
    let get = |k: &str| {
        vars.iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(inner) = after.strip_prefix('{') {
            if let Some(end) = inner.find('}') {
                out.push_str(&get(&inner[..end]));
                rest = &inner[end + 1..];
                continue;
            }
        }
        let n = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        if n == 0 {
            out.push('$');
        } else {
            out.push_str(&get(&after[..n]));
        }
        rest = &after[n..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuations_comments_and_directives() {
        let p = parse("# syntax=docker/dockerfile:1\nFROM busybox\n# a comment\nRUN echo a \\\n  # inside\n  && echo b\nCMD [\"sh\"]\n").unwrap();
        assert_eq!(p.notes.len(), 1);
        let kw: Vec<_> = p
            .instructions
            .iter()
            .map(|i| (i.line, i.keyword.as_str()))
            .collect();
        assert_eq!(kw, [(2, "FROM"), (4, "RUN"), (7, "CMD")]);
        assert_eq!(p.instructions[1].rest, "echo a && echo b");
        assert_eq!(
            command_form(&p.instructions[2].rest, &default_shell()),
            ["sh"]
        );
        assert_eq!(
            command_form("echo $0", &["/bin/ash".into(), "-c".into()]),
            ["/bin/ash", "-c", "echo $0"]
        );
    }

    #[test]
    fn heredocs_take_their_lines() {
        let p = parse("FROM busybox\nRUN <<EOF\necho a\n\necho b\nEOF\nCOPY <<-\"x.txt\" /x\n\t$HOME\nx.txt\nCMD true\n").unwrap();
        let run = &p.instructions[1];
        assert_eq!(run.heredocs[0].name, "EOF");
        assert_eq!(run.heredocs[0].body, "echo a\n\necho b\n");
        let copy = &p.instructions[2];
        assert_eq!(
            (copy.heredocs[0].body.as_str(), copy.heredocs[0].quoted),
            ("$HOME\n", true)
        );
        assert_eq!(p.instructions[3].keyword, "CMD");
        assert!(parse("FROM busybox\nRUN <<EOF\necho\n").is_err());
        assert!(heredoc_markers("cat <<< word").is_empty());
    }

    #[test]
    fn unknown_instructions_are_refused_with_their_line() {
        let e = parse("FROM busybox\nHEALTHCHECK CMD true\n").err().unwrap();
        assert!(e.to_string().contains("line 2"), "{e}");
    }

    #[test]
    fn words_flags_and_expansion() {
        assert_eq!(
            words(r#"A=1 B="two words" C='x'"#),
            ["A=1", "B=two words", "C=x"]
        );
        let i = Instruction {
            line: 1,
            keyword: "COPY".into(),
            rest: "--from=a --chown=1:2 x /y".into(),
            heredocs: Vec::new(),
        };
        let (f, rest) = i.flags();
        assert_eq!(
            f,
            [("from".into(), "a".into()), ("chown".into(), "1:2".into())]
        );
        assert_eq!(rest, "x /y");
        let v = vec![("A".to_string(), "1".to_string())];
        assert_eq!(expand("$A/${A}x$B $", &v), "1/1x $");
    }
}
