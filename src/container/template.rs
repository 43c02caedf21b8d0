//! `--format`: the part of Go's text/template that docker's `--format` is used with, over
//! the JSON a command shows. `{{.State.Pid}}`, `{{json .Config}}`, `{{index .Config.Env 0}}`,
//! `{{range .Mounts}}{{.Source}} {{end}}`, `{{if .State.Running}}up{{else}}down{{end}}`,
//! `{{.Name | upper}}`, `{{len .Mounts}}`, `{{join .Args ","}}`. A value prints as Go prints
//! it: strings bare, lists as `[a b]`, objects as `{v1 v2}` (their fields by name), nothing
//! as `<no value>`.

use crate::error::{Error, Result};
use serde_json::Value;

#[derive(Debug)]
enum Node {
    Text(String),
    Print(String),
    Range(String, Vec<Node>, Vec<Node>),
    If(String, Vec<Node>, Vec<Node>),
}

fn bad(template: &str, why: impl std::fmt::Display) -> Error {
    Error::usage(
        format!("the template {template:?} cannot be read: {why}"),
        "write fields as docker does: '{{.State.Pid}}', '{{json .Config}}', '{{range .Mounts}}{{.Source}} {{end}}'",
    )
}

/// The template's pieces: text, and what is between `{{` and `}}` (trimmed).
fn lex(t: &str) -> Result<Vec<(bool, String)>> {
    let mut out = Vec::new();
    let mut rest = t;
    while let Some(open) = rest.find("{{") {
        out.push((false, rest[..open].to_string()));
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| bad(t, "a {{ without its }}"))?;
        let inner = after[..close].trim_start_matches('-').trim_end_matches('-');
        out.push((true, inner.trim().to_string()));
        rest = &after[close + 2..];
    }
    out.push((false, rest.to_string()));
    Ok(out)
}

/// Build nodes up to an `end` (or `else`) at this level. Returns the nodes and what ended them.
fn parse(
    t: &str,
    toks: &mut std::vec::IntoIter<(bool, String)>,
) -> Result<(Vec<Node>, Option<String>)> {
    let mut nodes = Vec::new();
    while let Some((action, s)) = toks.next() {
        if !action {
            if !s.is_empty() {
                nodes.push(Node::Text(s));
            }
            continue;
        }
        let (word, arg) = s.split_once(' ').unwrap_or((&s, ""));
        match word {
            "end" | "else" => return Ok((nodes, Some(word.to_string()))),
            "range" | "if" => {
                let (body, ended) = parse(t, toks)?;
                let (other, ended) = match ended.as_deref() {
                    Some("else") => parse(t, toks)?,
                    _ => (Vec::new(), ended),
                };
                if ended.as_deref() != Some("end") {
                    return Err(bad(t, format!("{{{{{word}}}}} without its {{{{end}}}}")));
                }
                let arg = arg.trim().to_string();
                nodes.push(if word == "range" {
                    Node::Range(arg, body, other)
                } else {
                    Node::If(arg, body, other)
                });
            }
            _ => nodes.push(Node::Print(s)),
        }
    }
    Ok((nodes, None))
}

/// The words of a command: fields, "strings", numbers, function names.
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ' ' | '\t' if !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn field(t: &str, dot: &Value, path: &str) -> Result<Value> {
    let mut v = dot;
    for name in path.split('.').filter(|n| !n.is_empty()) {
        v = match v {
            Value::Object(m) => m.get(name).ok_or_else(|| {
                bad(
                    t,
                    format!("there is no field {name:?} (the fields here: {})", keys(m)),
                )
            })?,
            Value::Null => return Ok(Value::Null),
            _ => {
                return Err(bad(
                    t,
                    format!("{name:?} is asked of a value that has no fields"),
                ))
            }
        };
    }
    Ok(v.clone())
}

fn keys(m: &serde_json::Map<String, Value>) -> String {
    m.keys().cloned().collect::<Vec<_>>().join(", ")
}

/// One argument's value.
fn arg(t: &str, dot: &Value, w: &str) -> Result<Value> {
    if w == "." {
        return Ok(dot.clone());
    }
    if let Some(path) = w.strip_prefix('.') {
        return field(t, dot, path);
    }
    if let Some(s) = w.strip_prefix('"').and_then(|w| w.strip_suffix('"')) {
        return Ok(Value::String(s.to_string()));
    }
    if let Ok(n) = w.parse::<i64>() {
        return Ok(Value::from(n));
    }
    match w {
        "true" => Ok(Value::Bool(true)),
        "false" => Ok(Value::Bool(false)),
        _ => Err(bad(t, format!("{w:?} is neither a field (.Name) nor a function this knows (json, index, len, join, upper, lower, title)"))),
    }
}

/// A pipeline: commands separated by `|`, each one's value the last argument of the next.
fn eval(t: &str, dot: &Value, pipeline: &str) -> Result<Value> {
    let mut last: Option<Value> = None;
    for cmd in pipeline.split('|') {
        let ws = words(cmd);
        let (name, rest) = ws.split_first().ok_or_else(|| bad(t, "an empty {{ }}"))?;
        let mut args = rest
            .iter()
            .map(|w| arg(t, dot, w))
            .collect::<Result<Vec<_>>>()?;
        args.extend(last.take());
        last = Some(match name.as_str() {
            "json" => Value::String(
                serde_json::to_string(args.first().unwrap_or(&Value::Null)).expect("serializes"),
            ),
            "len" => Value::from(match args.first() {
                Some(Value::Array(a)) => a.len(),
                Some(Value::Object(m)) => m.len(),
                Some(Value::String(s)) => s.len(),
                _ => return Err(bad(t, "len of something that has no length")),
            }),
            "index" => {
                let mut v = args.first().cloned().unwrap_or(Value::Null);
                for k in args.iter().skip(1) {
                    v = match (&v, k) {
                        (Value::Array(a), Value::Number(n)) => n
                            .as_u64()
                            .and_then(|i| a.get(i as usize).cloned())
                            .ok_or_else(|| bad(t, format!("index {n} is out of range")))?,
                        (Value::Object(m), Value::String(s)) => {
                            m.get(s).cloned().unwrap_or(Value::Null)
                        }
                        _ => return Err(bad(t, "index of something that cannot be indexed so")),
                    };
                }
                v
            }
            "join" => match (args.first(), args.get(1)) {
                (Some(Value::Array(a)), Some(Value::String(sep))) => {
                    Value::String(a.iter().map(show).collect::<Vec<_>>().join(sep))
                }
                _ => return Err(bad(t, "join takes a list and a separator")),
            },
            "upper" | "lower" | "title" => {
                let s = show(args.first().unwrap_or(&Value::Null));
                Value::String(match name.as_str() {
                    "upper" => s.to_uppercase(),
                    "lower" => s.to_lowercase(),
                    _ => {
                        let mut c = s.chars();
                        c.next()
                            .map(|f| f.to_uppercase().chain(c).collect())
                            .unwrap_or_default()
                    }
                })
            }
            _ if args.is_empty() => arg(t, dot, name)?,
            _ => return Err(bad(t, format!("{name:?} is not a function this knows"))),
        });
    }
    Ok(last.unwrap_or(Value::Null))
}

/// A value as Go's fmt prints it.
pub fn show(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(show).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!("{{{}}}", m.values().map(show).collect::<Vec<_>>().join(" ")),
        other => other.to_string(),
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

fn render(t: &str, nodes: &[Node], dot: &Value, out: &mut String) -> Result<()> {
    for n in nodes {
        match n {
            Node::Text(s) => out.push_str(s),
            Node::Print(p) => out.push_str(&show(&eval(t, dot, p)?)),
            Node::If(p, yes, no) => {
                let branch = if truthy(&eval(t, dot, p)?) { yes } else { no };
                render(t, branch, dot, out)?;
            }
            Node::Range(p, body, empty) => {
                let items: Vec<Value> = match eval(t, dot, p)? {
                    Value::Array(a) => a,
                    Value::Object(m) => m.into_iter().map(|(_, v)| v).collect(),
                    Value::Null => Vec::new(),
                    _ => return Err(bad(t, "range over something that is not a list")),
                };
                if items.is_empty() {
                    render(t, empty, dot, out)?;
                }
                for item in &items {
                    render(t, body, item, out)?;
                }
            }
        }
    }
    Ok(())
}

/// A parsed template.
pub struct Template {
    text: String,
    nodes: Vec<Node>,
}

impl Template {
    pub fn parse(text: &str) -> Result<Template> {
        let (nodes, ended) = parse(text, &mut lex(text)?.into_iter())?;
        if let Some(word) = ended {
            return Err(bad(
                text,
                format!("{{{{{word}}}}} without a {{{{range}}}} or {{{{if}}}}"),
            ));
        }
        Ok(Template {
            text: text.to_string(),
            nodes,
        })
    }

    /// The template applied to `v`: what docker prints for it (a newline is added by the caller).
    pub fn render(&self, v: &Value) -> Result<String> {
        let mut out = String::new();
        render(&self.text, &self.nodes, v, &mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(t: &str, v: &Value) -> String {
        Template::parse(t).unwrap().render(v).unwrap()
    }

    #[test]
    fn docker_formats_render_as_docker_renders_them() {
        let v = serde_json::json!({
            "Name": "/web",
            "State": {"Pid": 4242, "Running": true},
            "Config": {"Env": ["A=1", "B=2"], "Cmd": ["sh"]},
            "Mounts": [{"Source": "/h", "Destination": "/c"}],
            "NetworkSettings": {"IPAddress": "10.77.0.2", "Networks": {"gb0": {"IPAddress": "10.77.0.2"}}}
        });
        assert_eq!(r("{{.State.Pid}}", &v), "4242");
        assert_eq!(r("{{ .NetworkSettings.IPAddress }}", &v), "10.77.0.2");
        assert_eq!(
            r("{{json .Config}}", &v),
            r#"{"Cmd":["sh"],"Env":["A=1","B=2"]}"#
        );
        assert_eq!(r("{{index .Config.Env 1}}", &v), "B=2");
        assert_eq!(
            r("{{index .NetworkSettings.Networks \"gb0\"}}", &v),
            "{10.77.0.2}"
        );
        assert_eq!(
            r(
                "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                &v
            ),
            "10.77.0.2"
        );
        assert_eq!(
            r("{{range .Mounts}}{{.Source}}:{{.Destination}} {{end}}", &v),
            "/h:/c "
        );
        assert_eq!(r("{{.Mounts}}", &v), "[{/c /h}]");
        assert_eq!(r("{{if .State.Running}}up{{else}}down{{end}}", &v), "up");
        assert_eq!(
            r(
                "{{.Name | upper}} {{len .Config.Env}} {{join .Config.Env \",\"}}",
                &v
            ),
            "/WEB 2 A=1,B=2"
        );
        for bad in [
            "{{.Nope}}",
            "{{range .Mounts}}",
            "{{.State",
            "{{frob .Name}}",
            "{{end}}",
        ] {
            let e = Template::parse(bad).and_then(|t| t.render(&v)).unwrap_err();
            assert!(e.what.contains("cannot be read"), "{bad}: {}", e.what);
        }
    }
}
