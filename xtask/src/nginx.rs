//! The benchmarks' server: Debian's nginx (OpenSSL) with one worker on loopback, over HTTPS (the
//! uprobe path) or plain HTTP (the socket-tracepoint path), answering every path with the same
//! body. Shared by the overhead and loss benchmarks so that both measure the same server.
use std::{
    fs,
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

/// What every request gets back.
#[derive(Clone, Copy, Debug)]
pub enum Body {
    /// `{"ok":true}` (11 bytes), from the config: no file I/O on the server.
    Small,
    /// A static file of this many bytes (read from the page cache).
    File(usize),
}

pub struct Nginx {
    child: Child,
    pub port: u16,
    pub tls: bool,
}

/// Fails with what to run when a tool the benchmarks drive is missing.
pub fn require(tool: &str) -> anyhow::Result<()> {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()?
        .success();
    if !found {
        bail!("{tool} is missing: run `scripts/setup.sh --bench`");
    }
    Ok(())
}

fn self_signed_cert(dir: &Path) -> anyhow::Result<()> {
    let status = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if !status.success() {
        bail!("openssl req failed");
    }
    Ok(())
}

fn config(dir: &Path, port: u16, tls: bool, http2: bool, body: Body) -> anyhow::Result<String> {
    let d = dir.display();
    // nginx 1.22 (Debian 12) turns HTTP/2 on per listen socket (`http2 on;` is 1.25.1 and later).
    let h2 = if http2 { " http2" } else { "" };
    let listen = if tls {
        // ssl_buffer_size: nginx hands OpenSSL at most this much per SSL_write (16 KiB by
        // default). Most servers write a whole body in one call, which is what the per-call cap
        // is about, so a large body goes out in one write here too.
        let write = match body {
            Body::Small => 16 * 1024,
            Body::File(bytes) => bytes.max(16 * 1024),
        };
        format!(
            "listen 127.0.0.1:{port} ssl{h2}; ssl_certificate {d}/cert.pem; \
             ssl_certificate_key {d}/key.pem; ssl_buffer_size {write};"
        )
    } else {
        format!("listen 127.0.0.1:{port}{h2};")
    };
    let location = match body {
        Body::Small => "default_type application/json; return 200 '{\"ok\":true}';".to_owned(),
        Body::File(bytes) => {
            let www = dir.join("www");
            fs::create_dir_all(&www)?;
            // JSON-looking filler: the monitor samples bodies, nothing in it is a credential.
            let mut text = String::with_capacity(bytes);
            text.push('"');
            text.extend(std::iter::repeat_n('x', bytes.saturating_sub(2)));
            text.push('"');
            fs::write(www.join("body.json"), text)?;
            format!("root {d}/www; default_type application/json; try_files /body.json =404;")
        }
    };
    // keepalive_requests: nginx closes a connection after 1,000 requests by default; a load
    // generator holding one connection per lane would then spend its time reconnecting.
    Ok(format!(
        "worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 4096; }}\n\
         http {{ access_log off; keepalive_requests 100000000; keepalive_timeout 300s;\n\
           client_body_temp_path {d}; proxy_temp_path {d};\n\
           fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};\n\
           server {{ {listen}\n  location / {{ {location} }} }} }}\n"
    ))
}

impl Nginx {
    /// Starts nginx with its files in `dir` (made if missing) and waits until it accepts.
    pub fn start(dir: &Path, port: u16, tls: bool, body: Body) -> anyhow::Result<Self> {
        Self::start_with(dir, port, tls, false, body)
    }

    /// `start`, serving HTTP/2 (ALPN `h2` over TLS, prior-knowledge `h2c` without) if `http2`.
    pub fn start_with(
        dir: &Path,
        port: u16,
        tls: bool,
        http2: bool,
        body: Body,
    ) -> anyhow::Result<Self> {
        fs::create_dir_all(dir)?;
        if tls {
            self_signed_cert(dir)?;
        }
        fs::write(dir.join("nginx.conf"), config(dir, port, tls, http2, body)?)?;
        let child = Command::new("nginx")
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting nginx")?;
        let mut nginx = Self { child, port, tls };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline || nginx.child.try_wait()?.is_some() {
                bail!(
                    "nginx did not start: see {}",
                    dir.join("error.log").display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(nginx)
    }

    /// `https://127.0.0.1:PORT` or `http://...`, without a trailing slash.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The worker process: the one that does the work (the master only supervises).
    pub fn worker_pid(&self) -> anyhow::Result<u32> {
        let master = self.child.id();
        let children = fs::read_to_string(format!("/proc/{master}/task/{master}/children"))
            .unwrap_or_default();
        children
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
            .context("nginx has no worker process")
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: the master then stops its worker; a killed master would leave
        // the worker serving the port.
        // SAFETY: plain kill(2) on our child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// A fresh directory for one benchmark run's files.
pub fn scratch_dir(tag: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("monitor-bench-{tag}-{}", std::process::id()));
    fs::create_dir_all(&dir)?;
    Ok(dir)
}
