//! The HTTP side of the registry protocol, every request narrated like a syscall: the
//! method and URL with the headers that matter before it is sent, then the status, and on
//! the next line what the answer said (type, length, digest, where a redirect leads).
//!
//! Authentication is the registry's to ask for (OCI distribution spec, docker's token
//! spec): a request answered `401` with `WWW-Authenticate: Bearer realm=…,service=…,scope=…`
//! is sent again with a token fetched from the realm (anonymously, or with the user's
//! credentials as HTTP basic auth); `WWW-Authenticate: Basic` takes the credentials
//! themselves. Redirects (registries send blobs to a storage server) are followed by hand,
//! each one narrated, at most [`MAX_REDIRECTS`] of them, and credentials are never sent to
//! another host.

use crate::error::{Error, Result};
use crate::narrate::Call;
use crate::sys::{quote, Sys};
use std::io::Read;

pub const MAX_REDIRECTS: usize = 5;
/// Manifests, configs and token answers are read whole: at most this much (docker's limit
/// for a manifest is 4 MiB).
pub const MAX_SMALL: u64 = 4 << 20;

/// What a request sends: the method, the headers that matter, and a body that can be sent
/// again (after a login challenge).
#[derive(Clone, Copy)]
pub struct Req<'b> {
    pub method: &'static str,
    pub accept: &'b [&'b str],
    pub content_type: Option<&'b str>,
    pub body: Payload<'b>,
}

#[derive(Clone, Copy)]
pub enum Payload<'b> {
    None,
    Bytes(&'b [u8]),
    File(&'b std::path::Path),
}

impl<'b> Req<'b> {
    pub fn get(accept: &'b [&'b str]) -> Self {
        Req {
            method: "GET",
            accept,
            content_type: None,
            body: Payload::None,
        }
    }
    pub fn new(method: &'static str) -> Self {
        Req {
            method,
            accept: &[],
            content_type: None,
            body: Payload::None,
        }
    }
}

/// An answer whose body is still to be read.
pub struct Answer {
    pub status: u16,
    pub url: String,
    pub content_type: String,
    pub digest: Option<String>,
    pub length: Option<u64>,
    /// Where a redirect or an upload leads.
    pub location: Option<String>,
    body: ureq::Body,
}

impl Answer {
    pub fn reader(self) -> impl Read + Send + 'static {
        self.body.into_reader()
    }

    /// The whole body, refused when longer than `max`.
    pub fn bytes(self, max: u64, what: &str) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.body
            .into_reader()
            .take(max + 1)
            .read_to_end(&mut v)
            .map_err(|e| {
                Error::io(
                    format!("cannot read {what} from the registry"),
                    &e,
                    "check the connection to the registry and pull again",
                )
            })?;
        if v.len() as u64 > max {
            return Err(Error::new(
                format!("{what} is larger than {max} bytes: refused"),
                "the registry is damaged or hostile",
            ));
        }
        Ok(v)
    }
}

pub struct Client<'a, 'n> {
    sys: &'a Sys<'n>,
    agent: ureq::Agent,
    /// `http://127.0.0.1:5000` or `https://registry-1.docker.io`.
    pub base: String,
    pub repository: String,
    /// The Authorization header the registry asked for, once known.
    auth: Option<String>,
    creds: Option<(String, String)>,
    /// The access a token is asked for when the challenge names none (pull, or push).
    scope: Option<String>,
}

impl<'a, 'n> Client<'a, 'n> {
    pub fn new(
        sys: &'a Sys<'n>,
        base: String,
        repository: String,
        creds: Option<(String, String)>,
    ) -> Self {
        Self::with_ca(sys, base, repository, creds, None)
    }

    /// As [`Client::new`], trusting the certificates of `ca` too (PEM: a private
    /// registry's CA, docker's certs.d/HOST/ca.crt) besides the usual roots.
    pub fn with_ca(
        sys: &'a Sys<'n>,
        base: String,
        repository: String,
        creds: Option<(String, String)>,
        ca: Option<Vec<ureq::tls::Certificate<'static>>>,
    ) -> Self {
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(certs) = ca {
            tls = tls.root_certs(super::tls::roots(certs));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(tls.build())
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent("glassbox")
            .timeout_connect(Some(std::time::Duration::from_secs(30)))
            .timeout_recv_response(Some(std::time::Duration::from_secs(60)))
            .build()
            .into();
        Client {
            sys,
            agent,
            base,
            repository,
            auth: None,
            creds,
            scope: None,
        }
    }

    /// Ask tokens for this access (`repository:x:pull,push` to push).
    pub fn set_scope(&mut self, scope: String) {
        self.scope = Some(scope);
    }

    /// Whether the registry takes the credentials: `GET /v2/`, answering its challenge.
    pub fn login_check(&mut self) -> Result<()> {
        let a = self.get("", &[], "does the registry take these credentials?")?;
        if a.status == 200 {
            return Ok(());
        }
        Err(Error::new(
            format!(
                "{} does not answer as a registry ({} for /v2/)",
                a.url, a.status
            ),
            "check the registry's address",
        ))
    }

    pub fn narrator(&self) -> &crate::narrate::Narrator {
        self.sys.narrator
    }

    /// `GET /v2/…` (a path under the registry's API), with authentication and redirects.
    pub fn get(&mut self, path: &str, accept: &[&str], why: &str) -> Result<Answer> {
        self.request(&Req::get(accept), path, why)
    }

    /// Any request to a path under `/v2/` (or a whole URL the registry gave, as an upload's
    /// Location), answering a login challenge once.
    pub fn request(&mut self, req: &Req, path: &str, why: &str) -> Result<Answer> {
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else if path.starts_with('/') {
            format!("{}{path}", self.base)
        } else {
            format!("{}/v2/{path}", self.base)
        };
        let mut raw = self.follow(req, &url, why)?;
        if raw.answer.status == 401 {
            let Some(challenge) = raw.challenge.take() else {
                return Err(Error::new(
                    format!("the registry refused {url} (401) without saying how to log in"),
                    "the registry is misconfigured: it must send a WWW-Authenticate header",
                ));
            };
            self.authenticate(&challenge)?;
            raw = self.follow(req, &url, why)?;
            if raw.answer.status == 401 {
                return Err(refused(&self.base));
            }
        }
        Ok(raw.answer)
    }

    /// One request and the redirects that follow it (of a GET or HEAD only).
    fn follow(&self, req: &Req, first: &str, why: &str) -> Result<Raw> {
        let mut url = first.to_string();
        let mut seen = vec![url.clone()];
        loop {
            let same_host = host_of(&url) == host_of(&self.base);
            let auth = if same_host {
                self.auth.as_deref()
            } else {
                None
            };
            let raw = self.send(req, &url, auth, why)?;
            if !(300..400).contains(&raw.answer.status) || !matches!(req.method, "GET" | "HEAD") {
                return Ok(raw);
            }
            let Some(next) = raw.location.as_deref().map(|l| join(&url, l)) else {
                return Err(Error::new(
                    format!(
                        "the registry answered {url} with a redirect ({}) but no Location",
                        raw.answer.status
                    ),
                    "the registry is misconfigured",
                ));
            };
            if seen.len() > MAX_REDIRECTS || seen.contains(&next) {
                return Err(Error::new(
                    format!("the registry's redirects for {first} go round in a loop (or past {MAX_REDIRECTS}): refused"),
                    "the registry is misconfigured or hostile; nothing was written",
                ));
            }
            seen.push(next.clone());
            url = next;
        }
    }

    /// Send one request, narrated: the call before, its status after, the answer's headers.
    fn send(&self, req: &Req, url: &str, auth: Option<&str>, why: &str) -> Result<Raw> {
        let accept = req.accept;
        let mut args = vec![quote(url)];
        if !accept.is_empty() {
            args.push(quote(&format!("Accept: {}", accept.join(", "))));
        }
        if let Some(t) = req.content_type {
            args.push(quote(&format!("Content-Type: {t}")));
        }
        let length = match req.body {
            Payload::None => None,
            Payload::Bytes(b) => Some(b.len() as u64),
            Payload::File(p) => Some(std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)),
        };
        if let Some(l) = length {
            args.push(quote(&format!("Content-Length: {l}")));
        }
        if let Some(a) = auth {
            let kind = a.split(' ').next().unwrap_or("");
            args.push(quote(&format!("Authorization: {kind} …")));
        }
        let call = Call::new(req.method, args, "OCI distribution spec", why)
            .by_hand(format!("curl -i -X {} {url}", req.method));
        self.sys
            .request(&call, || self.transmit(req, url, auth, &call))
    }

    /// Send an announced request and narrate its answer.
    fn transmit(&self, req: &Req, url: &str, auth: Option<&str>, call: &Call) -> Result<Raw> {
        let n = self.sys.narrator;
        fn headers<B>(
            mut r: ureq::RequestBuilder<B>,
            req: &Req,
            auth: Option<&str>,
        ) -> ureq::RequestBuilder<B> {
            if !req.accept.is_empty() {
                r = r.header("Accept", req.accept.join(", "));
            }
            if let Some(t) = req.content_type {
                r = r.header("Content-Type", t);
            }
            if let Some(a) = auth {
                r = r.header("Authorization", a);
            }
            r
        }
        let sent = match req.method {
            "GET" => headers(self.agent.get(url), req, auth).call(),
            "HEAD" => headers(self.agent.head(url), req, auth).call(),
            m => {
                let b = if m == "POST" {
                    self.agent.post(url)
                } else {
                    self.agent.put(url)
                };
                let b = headers(b, req, auth);
                match req.body {
                    Payload::None => b.send_empty(),
                    Payload::Bytes(x) => b.send(x),
                    Payload::File(p) => match std::fs::File::open(p) {
                        Ok(f) => b.send(f),
                        Err(e) => Err(ureq::Error::Io(e)),
                    },
                }
            }
        };
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                let errno = match &e {
                    ureq::Error::Io(io) => io
                        .raw_os_error()
                        .map(nix::errno::Errno::from_raw)
                        .unwrap_or(nix::errno::Errno::EIO),
                    _ => nix::errno::Errno::EIO,
                };
                n.after(call, Err(errno));
                let text = e.to_string();
                if text.contains("certificate") || text.contains("Certificate") {
                    return Err(Error::new(
                        format!("the registry at {url} has a TLS certificate this machine does not trust: {text}"),
                        format!(
                            "if the registry has a CA of its own, put it in /etc/glassbox/certs.d/{}/ca.crt (docker's certs.d layout)",
                            host_of(url).split_once("://").map_or("", |(_, h)| h)
                        ),
                    ));
                }
                return Err(Error::new(
                    format!("cannot reach the registry at {url}: {e}"),
                    if url.starts_with("https:") {
                        "check the registry's address and that it speaks TLS with a certificate this machine trusts (plain HTTP is used only for loopback registries or --insecure-registry)"
                    } else {
                        "check the registry's address and that it runs"
                    },
                ));
            }
        };
        let status = resp.status().as_u16();
        n.after(call, Ok(status.into()));
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        };
        let content_type = header("content-type").unwrap_or_default();
        let digest = header("docker-content-digest");
        let length = header("content-length").and_then(|l| l.parse().ok());
        let location = header("location");
        let challenge = header("www-authenticate");
        let mut said = vec![format!(
            "{status} {}",
            resp.status().canonical_reason().unwrap_or("")
        )];
        if !content_type.is_empty() {
            said.push(format!("Content-Type: {content_type}"));
        }
        if let Some(l) = length {
            said.push(format!("Content-Length: {l}"));
        }
        if let Some(d) = &digest {
            said.push(format!("Docker-Content-Digest: {d}"));
        }
        if let Some(l) = &location {
            said.push(format!("Location: {l}"));
        }
        if let Some(c) = &challenge {
            said.push(format!("WWW-Authenticate: {c}"));
        }
        n.verbose(&format!("  ← {}", said.join("; ")));
        Ok(Raw {
            answer: Answer {
                status,
                url: url.to_string(),
                content_type,
                digest,
                length,
                location: location.clone(),
                body: resp.into_body(),
            },
            location,
            challenge,
        })
    }

    /// Answer a `WWW-Authenticate` challenge: a bearer token from its realm, or basic auth.
    fn authenticate(&mut self, challenge: &str) -> Result<()> {
        let (scheme, params) = parse_challenge(challenge);
        let basic = self
            .creds
            .as_ref()
            .map(|(u, p)| format!("Basic {}", base64(format!("{u}:{p}").as_bytes())));
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => {
                let Some(b) = basic else {
                    return Err(need_login(&self.base));
                };
                self.sys.narrator.note(
                    "the registry asks for basic auth: the credentials go along with each request",
                );
                self.auth = Some(b);
                Ok(())
            }
            "bearer" => {
                let realm = params
                    .iter()
                    .find(|(k, _)| k == "realm")
                    .map(|(_, v)| v.clone());
                let Some(realm) = realm else {
                    return Err(Error::new(
                        format!("the registry's challenge names no realm: {challenge}"),
                        "the registry is misconfigured",
                    ));
                };
                let mut query: Vec<String> = params
                    .iter()
                    .filter(|(k, _)| k == "service")
                    .map(|(k, v)| format!("{k}={}", encode(v)))
                    .collect();
                let scope = params
                    .iter()
                    .find(|(k, _)| k == "scope")
                    .map(|(_, v)| v.clone())
                    .or_else(|| self.scope.clone())
                    .unwrap_or_else(|| format!("repository:{}:pull", self.repository));
                query.push(format!("scope={}", encode(&scope)));
                let url = format!(
                    "{realm}{}{}",
                    if realm.contains('?') { "&" } else { "?" },
                    query.join("&")
                );
                self.sys.narrator.note(&format!(
                    "the registry asks for a bearer token: fetch one from {realm} for {scope}{}",
                    if basic.is_some() {
                        ", with the credentials"
                    } else {
                        ", anonymously"
                    }
                ));
                let raw = self.send(
                    &Req::get(&[]),
                    &url,
                    basic.as_deref(),
                    "ask the token server for a token that allows pulling this repository",
                )?;
                if raw.answer.status != 200 {
                    return Err(if raw.answer.status == 401 && basic.is_some() {
                        refused(&self.base)
                    } else if raw.answer.status == 401 {
                        need_login(&self.base)
                    } else {
                        Error::new(
                            format!("the token server at {realm} answered {}", raw.answer.status),
                            "check the registry's address, or try again later",
                        )
                    });
                }
                let body = raw.answer.bytes(MAX_SMALL, "the token")?;
                #[derive(serde::Deserialize)]
                struct Token {
                    token: Option<String>,
                    access_token: Option<String>,
                }
                let t: Token = serde_json::from_slice(&body).map_err(|e| {
                    Error::new(
                        format!(
                            "the token server's answer is not the JSON a token server sends: {e}"
                        ),
                        "the registry is misconfigured",
                    )
                })?;
                let Some(tok) = t.token.or(t.access_token) else {
                    return Err(Error::new(
                        "the token server's answer holds no token",
                        "the registry is misconfigured",
                    ));
                };
                self.auth = Some(format!("Bearer {tok}"));
                Ok(())
            }
            other => Err(Error::new(
                format!(
                    "the registry asks for an authentication glassbox does not speak ({other})"
                ),
                "use a registry with bearer-token or basic auth",
            )),
        }
    }
}

/// An answer with the headers only `follow` and `get` look at.
struct Raw {
    answer: Answer,
    location: Option<String>,
    challenge: Option<String>,
}

fn refused(base: &str) -> Error {
    Error::new(
        format!("the registry {base} refuses the credentials given (401 Unauthorized)"),
        "check the user name and password (glassbox login, or docker's config.json: $DOCKER_CONFIG or ~/.docker)",
    )
    .with_code(1)
}

fn need_login(base: &str) -> Error {
    Error::new(
        format!("the registry {base} asks for credentials, and none are known for it"),
        "log in first: echo PASSWORD | glassbox login --password-stdin -u USER REGISTRY",
    )
    .with_code(1)
}

/// `scheme://host[:port]` of a URL.
fn host_of(url: &str) -> &str {
    let after = url.find("://").map_or(0, |i| i + 3);
    let end = url[after..].find('/').map_or(url.len(), |i| after + i);
    &url[..end]
}

/// A Location header resolved against the URL it answered.
fn join(url: &str, location: &str) -> String {
    if location.contains("://") {
        location.to_string()
    } else if location.starts_with('/') {
        format!("{}{location}", host_of(url))
    } else {
        let dir = url.rsplit_once('/').map_or(url, |(d, _)| d);
        format!("{dir}/{location}")
    }
}

/// `Bearer realm="…",service="…"` → ("Bearer", [(realm, …), (service, …)]).
pub fn parse_challenge(h: &str) -> (String, Vec<(String, String)>) {
    let (scheme, rest) = h.trim().split_once(' ').unwrap_or((h.trim(), ""));
    let mut params = Vec::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let Some((k, after)) = s.split_once('=') else {
            break;
        };
        let k = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let (v, next) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (q[..end].to_string(), &q[end + 1..]),
                None => (q.to_string(), ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (after[..end].to_string(), &after[end..]),
                None => (after.to_string(), ""),
            }
        };
        params.push((k, v));
        s = next.trim_start_matches([',', ' ']);
    }
    (scheme.to_string(), params)
}

/// Percent-encode a query value (all but RFC 3986's unreserved characters).
pub fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (HTTP basic auth).
pub fn base64(b: &[u8]) -> String {
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decode standard base64 (docker's config.json keeps `user:password` so).
pub fn unbase64(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for ch in s.trim().bytes().filter(|&c| c != b'=') {
        let v = B64.iter().position(|&x| x == ch)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
        );
        assert_eq!(s, "Bearer");
        assert_eq!(
            p[0],
            ("realm".into(), "https://auth.docker.io/token".into())
        );
        assert_eq!(p[1].1, "registry.docker.io");
        assert_eq!(p[2].1, "repository:library/alpine:pull");
        let (s, p) = parse_challenge(r#"Basic realm="Registry Realm""#);
        assert_eq!((s.as_str(), p[0].1.as_str()), ("Basic", "Registry Realm"));
    }

    #[test]
    fn base64_round_trips() {
        for s in ["", "a", "ab", "abc", "user:pass word"] {
            assert_eq!(unbase64(&base64(s.as_bytes())).unwrap(), s.as_bytes());
        }
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
    }

    #[test]
    fn redirects_resolve() {
        assert_eq!(join("http://a:1/v2/x/blobs/y", "/b/c"), "http://a:1/b/c");
        assert_eq!(join("http://a:1/v2/x", "http://s/z"), "http://s/z");
        assert_eq!(host_of("https://h:5/v2/"), "https://h:5");
    }
}
