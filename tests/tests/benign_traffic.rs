//! Nothing flagged in ordinary traffic (issue 15, point 3): real package-manager, git and API
//! clients against real local servers, through the real kernel programs, and not one credential
//! finding on a call that carries no secret; while the same run's real credentials (an npm
//! publish token, a git push with basic auth, an S3 SigV4 request and a presigned URL) are all
//! found with their kind.
//!
//! Everything runs on loopback, on ports this test picked, and the assertions look only at the
//! calls to or from those ports (so other traffic on the host changes nothing):
//! - pip (`install`, `download`) against `pypiserver`, over HTTPS through nginx and in plaintext,
//!   serving two wheels built here (`tests/fixtures/benign/make_wheels.py`); `twine upload` with
//!   basic auth to a second pypiserver (a true positive);
//! - npm (`publish` with an `npm_` token, a true positive; then `install` and `view`, benign)
//!   against `verdaccio` over HTTPS (one instance for each, sharing one storage);
//! - git (`clone`, `fetch`, `pull`; `push` with basic auth, a true positive, on a port of its
//!   own) over HTTPS (HTTP/2) through nginx, fcgiwrap and `git http-backend`;
//! - JSON API calls full of UUIDs, digests, base64 blobs, `traceparent`, ETags, S3-style object
//!   keys, cursors and page tokens, over HTTPS, plaintext and HTTP/2 (curl through nginx); S3
//!   calls signed by botocore (SigV4, a presigned URL: true positives) against a stand-in
//!   (`tests/fixtures/benign/api_server.py`, `api_client.py`).
//!
//! The monitor runs as `monitor record`: on a failure the recording is kept and its path printed,
//! so `monitor replay RECORDING` reproduces the findings without root or any of these programs.
//! The credentials are made up here for each run, in real formats, and never printed.
use std::{
    collections::BTreeMap,
    fmt::Write as _,
    io::Read as _,
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use monitor_e2e::{
    Captured, Monitor, PYTHON,
    h2::{Background, free_port},
    root_or_skip, scratch_dir, test_deps, workspace_dir,
};
use serde_json::Value;

const TEST: &str = "ordinary_traffic_has_no_credential_findings_and_real_credentials_are_found";
/// How long any one client may run.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a server may take to listen.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(30);
/// The PATH the clients and servers run with (their environment is otherwise cleared, so no CA
/// bundle, proxy or registry setting of the host reaches them).
const CLIENT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn fixture(name: &str) -> PathBuf {
    workspace_dir().join("tests/fixtures/benign").join(name)
}

/// `len` random characters of `alphabet` (from /dev/urandom).
fn random_string(len: usize, alphabet: &[u8]) -> String {
    let mut bytes = vec![0u8; len];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("reading /dev/urandom");
    bytes
        .iter()
        .map(|b| char::from(alphabet[usize::from(*b) % alphabet.len()]))
        .collect()
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A command with an empty environment but PATH, HOME and the locale.
fn clean_command(program: impl AsRef<std::ffi::OsStr>, home: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .env_clear()
        .env("PATH", CLIENT_PATH)
        .env("HOME", home)
        .env("LANG", "C.UTF-8");
    command
}

/// Runs a client to completion within `CLIENT_TIMEOUT` (in a process group of its own, killed
/// whole on a time-out: git's helpers, npm's children); panics with `what` and its output (never
/// its arguments or environment, which may hold the test's credentials) if it fails. Returns its
/// pid and stdout.
fn run(what: &str, command: &mut Command) -> (u32, String) {
    use std::os::unix::process::CommandExt as _;
    let started = Instant::now();
    let mut child = command
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start it: {e}"));
    let pid = child.id();
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out_reader = thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err_reader = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for a client") {
            break status;
        }
        if started.elapsed() > CLIENT_TIMEOUT {
            // SAFETY: plain kill(2) on the process group of the child this test started.
            unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
            let _ = child.wait();
            panic!(
                "{what}: still running after {CLIENT_TIMEOUT:?}, killed; stderr:\n{}",
                err_reader.join().unwrap_or_default()
            );
        }
        thread::sleep(Duration::from_millis(20));
    };
    let out = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    assert!(
        status.success(),
        "{what} failed ({status}):\nstdout:\n{out}\nstderr:\n{err}"
    );
    eprintln!("{what}: done in {:.1?}", started.elapsed());
    (pid, out)
}

fn require_file(path: &Path, what: &str) {
    assert!(
        path.exists(),
        "{} is missing ({what}): run scripts/setup.sh --test",
        path.display()
    );
}

fn require_program(name: &str) -> PathBuf {
    CLIENT_PATH
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed: run scripts/setup.sh --test"))
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`.
fn wait_listening(port: u16, what: &str, server: &mut Server) {
    let deadline = Instant::now() + LISTEN_TIMEOUT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            server.is_running(),
            "{what} exited instead of listening on 127.0.0.1:{port}"
        );
        assert!(
            Instant::now() < deadline,
            "{what} does not listen on 127.0.0.1:{port} after {LISTEN_TIMEOUT:?}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// A server in a process group of its own (nginx's worker, fcgiwrap's children, node's helpers):
/// the whole group is killed on drop, so a failing test leaves nothing running.
struct Server(Background);

impl Server {
    fn start(command: &mut Command) -> Self {
        use std::os::unix::process::CommandExt as _;
        Self(Background::start(command.process_group(0)))
    }

    fn pid(&self) -> u32 {
        self.0.pid()
    }

    fn is_running(&mut self) -> bool {
        // `Background` keeps its child private; a process that exited is a zombie until reaped,
        // and /proc says so.
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: plain kill(2) on the process group this test started.
        unsafe { libc::kill(-(self.0.pid() as i32), libc::SIGKILL) };
    }
}

/// A certificate for 127.0.0.1 and localhost that the clients verify (it is its own CA).
fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("running openssl to make a test certificate");
    assert!(status.success(), "openssl req failed");
    (cert, key)
}

/// The ports of every server of the run; which scenario a call belongs to follows from its port.
#[derive(Clone, Copy, Debug)]
struct Ports {
    api_https: u16,
    api_http: u16,
    api_h2_https: u16,
    s3_https: u16,
    pypi_https: u16,
    pypi_http: u16,
    pypi_upload_https: u16,
    pypi_upload_http: u16,
    git_https: u16,
    git_push_https: u16,
    npm_https: u16,
    npm_publish_https: u16,
}

impl Ports {
    fn all(&self) -> [u16; 12] {
        [
            self.api_https,
            self.api_http,
            self.api_h2_https,
            self.s3_https,
            self.pypi_https,
            self.pypi_http,
            self.pypi_upload_https,
            self.pypi_upload_http,
            self.git_https,
            self.git_push_https,
            self.npm_https,
            self.npm_publish_https,
        ]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Scenario {
    Pip,
    Npm,
    Git,
    JsonApi,
    NpmPublish,
    TwineUpload,
    GitPush,
    S3SigV4,
    S3Presigned,
}

impl Scenario {
    fn benign(self) -> bool {
        matches!(self, Self::Pip | Self::Npm | Self::Git | Self::JsonApi)
    }
}

/// The server port of a call: the remote end for a client, the local end for a server, else the
/// port in its Host header.
fn server_port(call: &Value) -> Option<u16> {
    let side = if call["role"] == "client" {
        "remote"
    } else {
        "local"
    };
    call[side]["port"]
        .as_u64()
        .or_else(|| {
            call["host"]
                .as_str()?
                .rsplit_once(':')?
                .1
                .parse::<u64>()
                .ok()
        })
        .and_then(|p| u16::try_from(p).ok())
}

fn scenario_of(call: &Value, ports: &Ports) -> Option<Scenario> {
    let port = server_port(call)?;
    let query_has = |name: &str| {
        call["query_params"].as_array().is_some_and(|ps| {
            ps.iter()
                .any(|p| p.as_str().is_some_and(|p| p.eq_ignore_ascii_case(name)))
        })
    };
    Some(match port {
        p if p == ports.api_https || p == ports.api_http || p == ports.api_h2_https => {
            Scenario::JsonApi
        }
        p if p == ports.pypi_https || p == ports.pypi_http => Scenario::Pip,
        p if p == ports.pypi_upload_https || p == ports.pypi_upload_http => Scenario::TwineUpload,
        p if p == ports.git_https => Scenario::Git,
        p if p == ports.git_push_https => Scenario::GitPush,
        p if p == ports.npm_https => Scenario::Npm,
        p if p == ports.npm_publish_https => Scenario::NpmPublish,
        p if p == ports.s3_https && query_has("X-Amz-Signature") => Scenario::S3Presigned,
        p if p == ports.s3_https => Scenario::S3SigV4,
        _ => return None,
    })
}

fn location(finding: &Value) -> String {
    let loc = &finding["location"];
    match loc["in"].as_str() {
        Some("header") => format!("header `{}`", loc["name"].as_str().unwrap_or("?")),
        Some("query") => format!(
            "query parameter `{}`",
            loc["parameter"].as_str().unwrap_or("?")
        ),
        Some(other) => other.to_owned(),
        None => loc.to_string(),
    }
}

fn in_header(finding: &Value, name: &str) -> bool {
    finding["location"]["in"] == "header" && finding["location"]["name"] == name
}

fn in_query(finding: &Value, names: &[&str]) -> bool {
    finding["location"]["in"] == "query"
        && finding["location"]["parameter"]
            .as_str()
            .is_some_and(|p| names.iter().any(|n| p.eq_ignore_ascii_case(n)))
}

/// What a true-positive scenario must find (`required`), and where its requests may carry
/// credentials at all (`allowed`: any other finding in them is a false finding too).
struct Expected {
    scenario: Scenario,
    description: &'static str,
    required: fn(&Value) -> bool,
    allowed: fn(&Value) -> bool,
}

const EXPECTED: &[Expected] = &[
    Expected {
        scenario: Scenario::NpmPublish,
        description: "the npm token (`npm_` + 36) of `npm publish`, as `Authorization: Bearer`: \
                      kind bearer_token, or a kind with prefix `npm_`",
        required: |f| {
            in_header(f, "authorization")
                && (f["kind"] == "bearer_token"
                    || f["prefix"].as_str().is_some_and(|p| p.starts_with("npm_")))
        },
        allowed: |f| in_header(f, "authorization"),
    },
    Expected {
        scenario: Scenario::TwineUpload,
        description: "the basic auth of `twine upload`: kind basic_auth in `Authorization`",
        required: |f| in_header(f, "authorization") && f["kind"] == "basic_auth",
        allowed: |f| in_header(f, "authorization"),
    },
    Expected {
        scenario: Scenario::GitPush,
        description: "the basic auth of `git push`: kind basic_auth in `Authorization`",
        required: |f| in_header(f, "authorization") && f["kind"] == "basic_auth",
        allowed: |f| in_header(f, "authorization"),
    },
    Expected {
        scenario: Scenario::S3SigV4,
        description: "botocore's S3 SigV4 `Authorization: AWS4-HMAC-SHA256 Credential=AKIA...`: \
                      kind aws_sigv4",
        required: |f| in_header(f, "authorization") && f["kind"] == "aws_sigv4",
        allowed: |f| in_header(f, "authorization"),
    },
    Expected {
        scenario: Scenario::S3Presigned,
        description: "an S3 presigned URL: a finding in `X-Amz-Credential` or `X-Amz-Signature`",
        required: |f| in_query(f, &["X-Amz-Credential", "X-Amz-Signature"]),
        allowed: |f| {
            in_query(
                f,
                &[
                    "X-Amz-Credential",
                    "X-Amz-Signature",
                    "X-Amz-Security-Token",
                ],
            )
        },
    },
];

/// One line about a call, without any value: side, process, method, path, query names.
fn describe(call: &Value) -> String {
    format!(
        "{} {}[{}] {} {}{} ({}{})",
        call["role"].as_str().unwrap_or("?"),
        call["process"]["command"].as_str().unwrap_or("?"),
        call["process"]["pid"],
        call["method"].as_str().unwrap_or("?"),
        call["path"].as_str().unwrap_or("?"),
        match call["query_params"].as_array() {
            Some(ps) if !ps.is_empty() => format!(
                "?{}",
                ps.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("&")
            ),
            _ => String::new(),
        },
        call["http_version"].as_str().unwrap_or("?"),
        if call["tls"] == true {
            ", TLS"
        } else {
            ", plaintext"
        },
    )
}

fn describe_finding(finding: &Value) -> String {
    format!(
        "{} in {} (length {}{})",
        finding["kind"].as_str().unwrap_or("?"),
        location(finding),
        finding["length"],
        finding["prefix"]
            .as_str()
            .map(|p| format!(", prefix {p:?}"))
            .unwrap_or_default()
    )
}

/// Everything the servers need, in one scratch directory; killed on drop.
struct Servers {
    ports: Ports,
    cert: PathBuf,
    api: Server,
    pypi: Server,
    pypi_upload: Server,
    fcgiwrap: Server,
    nginx: Server,
    verdaccios: Vec<Server>,
}

impl Servers {
    fn start(dir: &Path, secrets: &Secrets) -> Self {
        let (cert, key) = certificate(dir);
        let python_deps = test_deps().join("benign-python");
        require_file(&python_deps.join("pypiserver"), "pypiserver");
        require_file(&python_deps.join("botocore"), "botocore");
        require_file(&python_deps.join("twine"), "twine");
        require_file(&python_deps.join("passlib"), "passlib");
        let verdaccio_bin = test_deps().join("verdaccio/node_modules/.bin/verdaccio");
        require_file(&verdaccio_bin, "verdaccio");
        for program in ["openssl", "git", "npm", "node", "curl"] {
            require_program(program);
        }
        let nginx = require_program("nginx");
        let fcgiwrap = require_program("fcgiwrap");
        let http_backend = ["/usr/lib/git-core/git-http-backend"]
            .iter()
            .map(PathBuf::from)
            .chain(
                Command::new("git")
                    .env("PATH", CLIENT_PATH)
                    .arg("--exec-path")
                    .output()
                    .ok()
                    .map(|o| {
                        PathBuf::from(String::from_utf8_lossy(&o.stdout).trim())
                            .join("git-http-backend")
                    }),
            )
            .find(|p| p.is_file())
            .expect("git http-backend is not installed: run scripts/setup.sh --test");

        // The JSON API and the S3 stand-in (one process, three listeners).
        let api = Server::start(
            clean_command(PYTHON, dir)
                .arg(fixture("api_server.py"))
                .arg(&cert)
                .arg(&key)
                .stderr(log_file(dir, "api_server.log")),
        );
        let line = api
            .0
            .wait_for_line(|l| l.starts_with("PORTS "), LISTEN_TIMEOUT);
        let api_ports: Vec<u16> = line["PORTS ".len()..]
            .split_whitespace()
            .map(|p| p.parse().expect("a port"))
            .collect();
        let [api_https, api_http, s3_https] = api_ports[..] else {
            panic!("api_server.py printed {line:?}");
        };

        // pypiserver in plaintext, serving two wheels built now; nginx adds TLS in front.
        let wheels = dir.join("wheels");
        run(
            "make_wheels.py",
            clean_command(PYTHON, dir)
                .arg(fixture("make_wheels.py"))
                .arg(&wheels),
        );
        let pypi_http = free_port();
        let mut pypi = Server::start(
            clean_command(PYTHON, dir)
                .env("PYTHONPATH", &python_deps)
                .args(["-m", "pypiserver", "run", "-i", "127.0.0.1", "-p"])
                .arg(pypi_http.to_string())
                .args(["-a", ".", "-P", ".", "--disable-fallback"])
                .args(["--log-stream", "none"])
                .arg(&wheels)
                .stderr(log_file(dir, "pypiserver.log")),
        );
        // A second pypiserver, empty, that takes uploads with basic auth (`twine upload`).
        let uploads = dir.join("uploads");
        std::fs::create_dir_all(&uploads).unwrap();
        std::fs::write(
            dir.join("pypi-htpasswd"),
            htpasswd_line("uploader", &secrets.upload_password),
        )
        .unwrap();
        let pypi_upload_http = free_port();
        let mut pypi_upload = Server::start(
            clean_command(PYTHON, dir)
                .env("PYTHONPATH", &python_deps)
                .args(["-m", "pypiserver", "run", "-i", "127.0.0.1", "-p"])
                .arg(pypi_upload_http.to_string())
                .args(["-a", "update", "-P"])
                .arg(dir.join("pypi-htpasswd"))
                .args(["--disable-fallback", "--log-stream", "none"])
                .arg(&uploads)
                .stderr(log_file(dir, "pypiserver-upload.log")),
        );

        // Bare repositories served by git http-backend through fcgiwrap (a unix socket).
        let repos = dir.join("repos");
        std::fs::create_dir_all(&repos).unwrap();
        run(
            "git init --bare",
            clean_command("git", dir)
                .args(["init", "--quiet", "--bare", "--initial-branch=main"])
                .arg(repos.join("demo.git")),
        );
        run(
            "git config http.receivepack",
            clean_command("git", dir)
                .arg("-C")
                .arg(repos.join("demo.git"))
                .args(["config", "http.receivepack", "true"]),
        );
        let fcgi_socket = dir.join("fcgiwrap.sock");
        let mut fcgiwrap = Server::start(
            clean_command(&fcgiwrap, dir)
                .arg("-c")
                .arg("2")
                .arg("-s")
                .arg(format!("unix:{}", fcgi_socket.display()))
                .stderr(log_file(dir, "fcgiwrap.log")),
        );

        // Basic auth for pushes (nginx checks it; the password is made up for this run).
        std::fs::write(
            dir.join("htpasswd"),
            htpasswd_line("pusher", &secrets.push_password),
        )
        .unwrap();

        let pypi_https = free_port();
        let pypi_upload_https = free_port();
        let api_h2_https = free_port();
        let git_https = free_port();
        let git_push_https = free_port();
        let git_location = format!(
            r#"location ~ ^/[a-z]+\.git/ {{
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME {backend};
      fastcgi_param GIT_PROJECT_ROOT {repos};
      fastcgi_param GIT_HTTP_EXPORT_ALL "";
      fastcgi_param PATH_INFO $uri;
      fastcgi_param REMOTE_USER $remote_user;
      fastcgi_pass unix:{socket};
    }}"#,
            backend = http_backend.display(),
            repos = repos.display(),
            socket = fcgi_socket.display(),
        );
        let d = dir.display();
        let nginx_conf = format!(
            r#"daemon off;
master_process on;
worker_processes 1;
user root;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {d}/nginx-body;
  proxy_temp_path {d}/nginx-proxy;
  fastcgi_temp_path {d}/nginx-fastcgi;
  uwsgi_temp_path {d}/nginx-uwsgi;
  scgi_temp_path {d}/nginx-scgi;
  client_max_body_size 64m;
  ssl_certificate {cert};
  ssl_certificate_key {key};
  server {{
    listen 127.0.0.1:{pypi_https} ssl;
    location / {{
      proxy_pass http://127.0.0.1:{pypi_http};
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-Proto https;
      proxy_http_version 1.1;
    }}
  }}
  server {{
    listen 127.0.0.1:{pypi_upload_https} ssl;
    location / {{
      proxy_pass http://127.0.0.1:{pypi_upload_http};
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-Proto https;
      proxy_http_version 1.1;
    }}
  }}
  server {{
    listen 127.0.0.1:{api_h2_https} ssl http2;
    location / {{
      proxy_pass http://127.0.0.1:{api_http};
      proxy_set_header Host $http_host;
      proxy_http_version 1.1;
    }}
  }}
  server {{
    listen 127.0.0.1:{git_https} ssl http2;
    {git_location}
  }}
  server {{
    listen 127.0.0.1:{git_push_https} ssl http2;
    auth_basic "git push";
    auth_basic_user_file {d}/htpasswd;
    {git_location}
  }}
}}
"#,
            cert = cert.display(),
            key = key.display(),
        );
        let nginx_conf_path = dir.join("nginx.conf");
        std::fs::write(&nginx_conf_path, nginx_conf).unwrap();
        let mut nginx = Server::start(
            clean_command(&nginx, dir)
                .arg("-p")
                .arg(dir)
                .arg("-e")
                .arg(dir.join("nginx-error.log"))
                .arg("-c")
                .arg(&nginx_conf_path)
                .stderr(log_file(dir, "nginx.log")),
        );

        // verdaccio over HTTPS, no uplink: anyone may read and publish (npm sends its token all
        // the same, as to any registry). verdaccio listens on one address only, so two of them
        // share one storage: publishes go to the one on `npm_publish_https` (every request of
        // `npm publish` carries the token), installs to the one on `npm_https`.
        let npm_https = free_port();
        let npm_publish_https = free_port();
        let mut verdaccios = Vec::new();
        for (port, name) in [
            (npm_https, "verdaccio"),
            (npm_publish_https, "verdaccio-publish"),
        ] {
            let conf = dir.join(format!("{name}.yaml"));
            std::fs::write(
                &conf,
                format!(
                    r#"storage: {d}/verdaccio-storage
auth:
  htpasswd:
    file: {d}/verdaccio-htpasswd
    max_users: -1
uplinks: {{}}
packages:
  '**':
    access: $all
    publish: $all
    unpublish: $all
listen: https://127.0.0.1:{port}
https:
  key: {key}
  cert: {cert}
log: {{ type: stdout, format: pretty, level: warn }}
"#,
                    cert = cert.display(),
                    key = key.display(),
                ),
            )
            .unwrap();
            let mut server = Server::start(
                clean_command(&verdaccio_bin, dir)
                    .arg("--config")
                    .arg(&conf)
                    .stderr(log_file(dir, &format!("{name}.log"))),
            );
            // One after the other: two instances starting at once race for the shared
            // storage's database lock, and the loser refuses every publish ("Verdaccio database
            // is locked ... during verdaccio startup", seen once in CI).
            wait_listening(port, name, &mut server);
            verdaccios.push((port, name, server));
        }

        wait_listening(pypi_http, "pypiserver", &mut pypi);
        wait_listening(pypi_upload_http, "pypiserver (uploads)", &mut pypi_upload);
        let deadline = Instant::now() + LISTEN_TIMEOUT;
        while !fcgi_socket.exists() {
            assert!(fcgiwrap.is_running(), "fcgiwrap exited");
            assert!(Instant::now() < deadline, "fcgiwrap made no socket");
            thread::sleep(Duration::from_millis(20));
        }
        for (port, what) in [
            (pypi_https, "nginx (pypi)"),
            (pypi_upload_https, "nginx (pypi uploads)"),
            (api_h2_https, "nginx (API over HTTP/2)"),
            (git_https, "nginx (git)"),
            (git_push_https, "nginx (git push)"),
        ] {
            wait_listening(port, what, &mut nginx);
        }
        Self {
            ports: Ports {
                api_https,
                api_http,
                api_h2_https,
                s3_https,
                pypi_https,
                pypi_http,
                pypi_upload_https,
                pypi_upload_http,
                git_https,
                git_push_https,
                npm_https,
                npm_publish_https,
            },
            cert,
            api,
            pypi,
            pypi_upload,
            fcgiwrap,
            nginx,
            verdaccios: verdaccios
                .into_iter()
                .map(|(_, _, server)| server)
                .collect(),
        }
    }

    /// Pids of the servers' main processes (nginx's worker and verdaccio's node are children or
    /// the same process; the assertions go by port, this is for the report).
    fn pids(&self) -> Vec<u32> {
        [
            &self.api,
            &self.pypi,
            &self.pypi_upload,
            &self.fcgiwrap,
            &self.nginx,
        ]
        .into_iter()
        .chain(&self.verdaccios)
        .map(Server::pid)
        .collect()
    }
}

/// An htpasswd line for `user` (apr1 hash, as nginx and pypiserver's passlib read it).
fn htpasswd_line(user: &str, password: &str) -> String {
    let mut openssl = Command::new("openssl")
        .args(["passwd", "-apr1", "-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("running openssl passwd");
    {
        use std::io::Write as _;
        let mut stdin = openssl.stdin.take().unwrap();
        writeln!(stdin, "{password}").unwrap();
    }
    let hashed = openssl.wait_with_output().expect("openssl passwd");
    assert!(hashed.status.success(), "openssl passwd failed");
    format!("{user}:{}", String::from_utf8_lossy(&hashed.stdout))
}

fn log_file(dir: &Path, name: &str) -> std::fs::File {
    std::fs::File::create(dir.join(name)).expect("creating a log file")
}

/// The pids of the clients that ran, by what they did (for the "the calls did happen" checks).
#[derive(Default)]
struct Clients {
    /// (what, pid, minimum number of client-side calls the monitor must report for it)
    runs: Vec<(&'static str, u32, usize)>,
}

fn drive_pip(servers: &Servers, dir: &Path, clients: &mut Clients) {
    let ports = servers.ports;
    let pip = |args: &[&str], index: &str, extra: &[&str]| {
        let mut command = clean_command(PYTHON, dir);
        command
            .env("PIP_CONFIG_FILE", "/dev/null")
            .args(["-m", "pip"])
            .args(args)
            .args([
                "--no-cache-dir",
                "--disable-pip-version-check",
                "--no-input",
            ])
            .args(["--timeout", "15", "--retries", "0", "--index-url", index])
            .args(extra);
        command
    };
    let https_index = format!("https://127.0.0.1:{}/simple/", ports.pypi_https);
    let http_index = format!("http://127.0.0.1:{}/simple/", ports.pypi_http);
    let cert = servers.cert.display().to_string();
    let target = dir.join("pip-target").display().to_string();
    let downloads = dir.join("pip-downloads").display().to_string();
    let downloads_http = dir.join("pip-downloads-http").display().to_string();
    // Each: the project page of benign-demo, its wheel, then the same for benign-dep.
    let (pid, _) = run(
        "pip install (HTTPS)",
        &mut pip(
            &["install", "--break-system-packages", "--target", &target],
            &https_index,
            &["--cert", &cert, "benign-demo"],
        ),
    );
    clients.runs.push(("pip install (HTTPS)", pid, 4));
    let (pid, _) = run(
        "pip download (HTTPS)",
        &mut pip(
            &["download", "--dest", &downloads],
            &https_index,
            &["--cert", &cert, "benign-demo==1.2.0"],
        ),
    );
    clients.runs.push(("pip download (HTTPS)", pid, 4));
    let (pid, _) = run(
        "pip download (plaintext)",
        &mut pip(
            &["download", "--dest", &downloads_http],
            &http_index,
            &["--trusted-host", "127.0.0.1", "benign-demo"],
        ),
    );
    clients.runs.push(("pip download (plaintext)", pid, 4));
    assert!(
        Path::new(&target).join("benign_demo/__init__.py").exists(),
        "pip installed nothing"
    );
}

fn drive_npm(servers: &Servers, dir: &Path, npm_token: &str, clients: &mut Clients) {
    let common = |port: u16| {
        format!(
            "registry=https://127.0.0.1:{port}/\ncafile={}\nfetch-retries=0\n\
             fetch-timeout=15000\nupdate-notifier=false\naudit=false\nfund=false\n",
            servers.cert.display()
        )
    };
    let publish_rc = dir.join("npmrc-publish");
    let publish_port = servers.ports.npm_publish_https;
    std::fs::write(
        &publish_rc,
        format!(
            "{}//127.0.0.1:{publish_port}/:_authToken={npm_token}\n",
            common(publish_port)
        ),
    )
    .unwrap();
    let install_rc = dir.join("npmrc-install");
    std::fs::write(&install_rc, common(servers.ports.npm_https)).unwrap();
    // The publisher and the consumer do not share a cache (they are different machines).
    let npm = |rc: &Path, cwd: &Path| {
        let mut command = clean_command("npm", dir);
        command
            .current_dir(cwd)
            .arg("--userconfig")
            .arg(rc)
            .arg("--cache")
            .arg(dir.join(if rc == publish_rc {
                "npm-cache-publish"
            } else {
                "npm-cache"
            }));
        command
    };
    // Two packages, the second depending on the first, published with the token.
    for (name, manifest) in [
        (
            "benign-npm-lib",
            r#"{"name":"benign-npm-lib","version":"1.0.0","main":"index.js","license":"MIT"}"#,
        ),
        (
            "benign-npm-app",
            r#"{"name":"benign-npm-app","version":"2.1.0","main":"index.js","license":"MIT",
                "dependencies":{"benign-npm-lib":"^1.0.0"}}"#,
        ),
    ] {
        let package = dir.join(name);
        std::fs::create_dir_all(&package).unwrap();
        std::fs::write(package.join("package.json"), manifest).unwrap();
        std::fs::write(package.join("index.js"), "module.exports = 42;\n").unwrap();
        let (pid, _) = run(
            "npm publish",
            npm(&publish_rc, &package).args(["publish", "--loglevel", "warn"]),
        );
        // A GET of the package document, then the PUT of the new version.
        clients.runs.push(("npm publish", pid, 2));
    }
    // A project installing the app: two package documents, two tarballs, no token.
    let project = dir.join("npm-project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("package.json"),
        r#"{"name":"consumer","version":"1.0.0","private":true}"#,
    )
    .unwrap();
    let (pid, _) = run(
        "npm install",
        npm(&install_rc, &project).args(["install", "--loglevel", "warn", "benign-npm-app"]),
    );
    clients.runs.push(("npm install", pid, 4));
    assert!(
        project
            .join("node_modules/benign-npm-lib/index.js")
            .exists(),
        "npm installed nothing"
    );
    let (pid, _) = run(
        "npm view",
        npm(&install_rc, &project).args(["view", "benign-npm-lib", "version"]),
    );
    clients.runs.push(("npm view", pid, 1));
}

fn drive_git(servers: &Servers, dir: &Path, push_password: &str) {
    let ports = servers.ports;
    // The push password lives in a git credential store file, as a CI job would keep it (never
    // in a command line).
    let credentials = dir.join("git-credentials");
    std::fs::write(
        &credentials,
        format!(
            "https://pusher:{push_password}@127.0.0.1:{}\n",
            ports.git_push_https
        ),
    )
    .unwrap();
    let git = |cwd: &Path| {
        let mut command = clean_command("git", dir);
        command
            .current_dir(cwd)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_SSL_CAINFO", &servers.cert)
            .args(["-c", "user.name=Build Bot", "-c", "user.email=bot@ci.test"])
            .arg("-c")
            .arg(format!(
                "credential.helper=store --file={}",
                credentials.display()
            ));
        command
    };
    let work = dir.join("git-work");
    std::fs::create_dir_all(&work).unwrap();
    run(
        "git init",
        git(&work).args(["init", "--quiet", "--initial-branch=main"]),
    );
    let commit = |n: u32| {
        std::fs::write(work.join("README.md"), format!("release {n}\n")).unwrap();
        run("git add", git(&work).args(["add", "README.md"]));
        run(
            "git commit",
            git(&work).args(["commit", "--quiet", "-m", &format!("release {n}")]),
        );
    };
    let push_url = format!("https://pusher@127.0.0.1:{}/demo.git", ports.git_push_https);
    let clone_url = format!("https://127.0.0.1:{}/demo.git", ports.git_https);
    commit(1);
    // git spawns git-remote-https for the HTTP part: its calls are counted by port below.
    run(
        "git push",
        git(&work).args(["push", "--quiet", &push_url, "main"]),
    );
    run(
        "git clone",
        git(dir).args(["clone", "--quiet", &clone_url, "git-clone"]),
    );
    commit(2);
    run(
        "git push (second)",
        git(&work).args(["push", "--quiet", &push_url, "main"]),
    );
    run(
        "git fetch",
        git(&dir.join("git-clone")).args(["fetch", "--quiet", "origin"]),
    );
    run(
        "git pull",
        git(&dir.join("git-clone")).args(["pull", "--quiet", "--ff-only", "origin", "main"]),
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("git-clone/README.md")).unwrap(),
        "release 2\n",
        "the clone did not get the second push"
    );
}

fn drive_api(servers: &Servers, dir: &Path, aws: (&str, &str), clients: &mut Clients) {
    let ports = servers.ports;
    let api = |mode: &str, url: String| {
        let mut command = clean_command(PYTHON, dir);
        command
            .arg(fixture("api_client.py"))
            .arg(mode)
            .arg(url)
            .arg(&servers.cert);
        command
    };
    let (pid, out) = run(
        "JSON API calls (HTTPS)",
        &mut api("benign", format!("https://127.0.0.1:{}", ports.api_https)),
    );
    clients
        .runs
        .push(("JSON API calls (HTTPS)", pid, out.lines().count()));
    let (pid, out) = run(
        "JSON API calls (plaintext)",
        &mut api("benign", format!("http://127.0.0.1:{}", ports.api_http)),
    );
    clients
        .runs
        .push(("JSON API calls (plaintext)", pid, out.lines().count()));
    // The same kind of calls with curl over HTTP/2 (nginx in front of the API): one connection,
    // HPACK-coded headers.
    let body_file = dir.join("object-record.json");
    let (_, key) = run(
        "api_client.py body",
        clean_command(PYTHON, dir)
            .arg(fixture("api_client.py"))
            .arg("body")
            .arg(&body_file),
    );
    let hex = |n: usize| random_string(n, b"0123456789abcdef");
    let base = format!("https://127.0.0.1:{}", ports.api_h2_https);
    let build_id = format!("{}-{}-4{}-a{}-{}", hex(8), hex(4), hex(3), hex(3), hex(12));
    let traceparent = format!("traceparent: 00-{}-{}-01", hex(32), hex(16));
    let request_id = format!("X-Request-Id: {}", hex(32));
    let (pid, _) = run(
        "curl --http2 (JSON API)",
        clean_command("curl", dir)
            .args(["--silent", "--show-error", "--fail", "--http2"])
            .arg("--cacert")
            .arg(&servers.cert)
            .args(["-H", &traceparent, "-H", &request_id])
            .args(["-H", "tracestate: rojo=00f067aa0ba902b7"])
            .args(["-H", &format!("If-None-Match: W/\"{}\"", hex(40))])
            .args(["-o", "/dev/null"])
            .arg(format!("{base}/v1/builds/{build_id}"))
            .args(["-o", "/dev/null"])
            .arg(format!(
                "{base}/v1/objects?digest=sha256:{}&key={}",
                hex(64),
                key.trim().replace('/', "%2F")
            ))
            .arg("--next")
            .args(["--silent", "--show-error", "--fail", "--http2"])
            .arg("--cacert")
            .arg(&servers.cert)
            .args(["-H", &traceparent, "-H", "Content-Type: application/json"])
            .args(["-H", &format!("Idempotency-Key: {build_id}")])
            .args(["-X", "PUT", "--data-binary"])
            .arg(format!("@{}", body_file.display()))
            .args(["-o", "/dev/null"])
            .arg(format!("{base}/v1/objects")),
    );
    clients.runs.push(("curl --http2 (JSON API)", pid, 3));
    let (pid, out) = run(
        "S3 calls (botocore, SigV4 and presigned)",
        api("s3", format!("https://127.0.0.1:{}", ports.s3_https))
            .env("PYTHONPATH", test_deps().join("benign-python"))
            .env("AWS_ACCESS_KEY_ID", aws.0)
            .env("AWS_SECRET_ACCESS_KEY", aws.1)
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true"),
    );
    clients.runs.push(("S3 calls", pid, out.lines().count()));
}

/// Made-up credentials in real formats, new for each run, never printed.
struct Secrets {
    npm_token: String,
    push_password: String,
    upload_password: String,
    aws_key_id: String,
    aws_secret: String,
}

impl Secrets {
    fn new() -> Self {
        Self {
            npm_token: format!("npm_{}", random_string(36, ALNUM)),
            push_password: random_string(24, ALNUM),
            upload_password: random_string(24, ALNUM),
            aws_key_id: format!(
                "AKIA{}",
                random_string(16, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
            ),
            aws_secret: random_string(
                40,
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+",
            ),
        }
    }

    fn all(&self) -> [&str; 5] {
        [
            &self.npm_token,
            &self.push_password,
            &self.upload_password,
            &self.aws_key_id,
            &self.aws_secret,
        ]
    }
}

fn drive_twine(servers: &Servers, dir: &Path, secrets: &Secrets, clients: &mut Clients) {
    let mut wheels: Vec<PathBuf> = std::fs::read_dir(dir.join("wheels"))
        .expect("the wheels")
        .flatten()
        .map(|e| e.path())
        .collect();
    wheels.sort();
    let (pid, _) = run(
        "twine upload",
        clean_command(PYTHON, dir)
            .env("PYTHONPATH", test_deps().join("benign-python"))
            .env("TWINE_USERNAME", "uploader")
            .env("TWINE_PASSWORD", &secrets.upload_password)
            .args([
                "-m",
                "twine",
                "upload",
                "--non-interactive",
                "--disable-progress-bar",
            ])
            .arg("--repository-url")
            .arg(format!(
                "https://127.0.0.1:{}/",
                servers.ports.pypi_upload_https
            ))
            .arg("--cert")
            .arg(&servers.cert)
            .args(&wheels),
    );
    // One multipart POST per wheel.
    clients.runs.push(("twine upload", pid, wheels.len()));
    assert!(
        dir.join("uploads/benign_demo-1.2.0-py3-none-any.whl")
            .exists(),
        "twine uploaded nothing"
    );
}

#[test]
fn ordinary_traffic_has_no_credential_findings_and_real_credentials_are_found() {
    if !root_or_skip(TEST) {
        return;
    }
    let started = Instant::now();
    let dir = scratch_dir("benign-traffic");
    let secrets = Secrets::new();
    let servers = Servers::start(&dir, &secrets);
    let ports = servers.ports;
    eprintln!("servers up in {:.1?}: {ports:?}", started.elapsed());
    let recording = dir.join("benign.rec");
    let monitor = Monitor::start_command("record", &["--out", recording.to_str().unwrap()]);
    eprintln!("monitor ready after {:.1?}", started.elapsed());

    let mut clients = Clients::default();
    drive_pip(&servers, &dir, &mut clients);
    drive_twine(&servers, &dir, &secrets, &mut clients);
    drive_npm(&servers, &dir, &secrets.npm_token, &mut clients);
    drive_git(&servers, &dir, &secrets.push_password);
    drive_api(
        &servers,
        &dir,
        (&secrets.aws_key_id, &secrets.aws_secret),
        &mut clients,
    );
    // The monitor reports a call once its response is parsed: give the last ones a moment.
    thread::sleep(Duration::from_millis(500));
    let captured = monitor.stop();
    let server_pids = servers.pids();
    drop(servers);
    eprintln!("traffic done after {:.1?}", started.elapsed());
    assert!(captured.exit_ok, "the monitor failed:\n{}", captured.stderr);

    let report = check(&captured, &ports, &clients, &server_pids, &secrets.all());
    eprintln!("{}", report.summary);
    if report.failures.is_empty() {
        let _ = std::fs::remove_dir_all(&dir);
        eprintln!("{TEST}: passed in {:.1?}", started.elapsed());
        return;
    }
    panic!(
        "{} problem(s):\n{}\n\nThe recording is kept: `monitor replay {}` prints the same calls \
         (no root needed). Scratch directory with the servers' logs: {}",
        report.failures.len(),
        report.failures.join("\n"),
        recording.display(),
        dir.display()
    );
}

struct Report {
    summary: String,
    failures: Vec<String>,
}

fn check(
    captured: &Captured,
    ports: &Ports,
    clients: &Clients,
    server_pids: &[u32],
    secrets: &[&str],
) -> Report {
    let mut failures = Vec::new();
    let mut summary = String::new();
    let calls: Vec<(&Value, Scenario)> = captured
        .calls
        .iter()
        .filter(|c| c["event"] == "api_call")
        .filter_map(|c| scenario_of(c, ports).map(|s| (c, s)))
        .collect();

    // Calls per scenario and side, for the report and the "it did happen" checks.
    let mut counts: BTreeMap<(Scenario, String), usize> = BTreeMap::new();
    for (call, scenario) in &calls {
        *counts
            .entry((*scenario, call["role"].as_str().unwrap_or("?").to_owned()))
            .or_default() += 1;
    }
    let _ = writeln!(
        summary,
        "calls seen on the test's ports (scenario, side: count):"
    );
    for ((scenario, role), n) in &counts {
        let _ = writeln!(summary, "  {scenario:?}, {role}: {n}");
    }
    let _ = writeln!(summary, "server pids: {server_pids:?}");

    // 1. Every client run was seen making its calls.
    for (what, pid, minimum) in &clients.runs {
        let seen = captured
            .calls_of(*pid)
            .into_iter()
            .filter(|c| c["event"] == "api_call" && c["role"] == "client")
            .filter(|c| scenario_of(c, ports).is_some())
            .count();
        let _ = writeln!(summary, "  {what} (pid {pid}): {seen} client calls");
        if seen < *minimum {
            let listed: Vec<String> = captured
                .calls_of(*pid)
                .into_iter()
                .filter(|c| c["event"] == "api_call")
                .map(describe)
                .collect();
            failures.push(format!(
                "{what} (pid {pid}): the monitor reported {seen} client calls, expected at least \
                 {minimum}; its calls: [{}]",
                listed.join("; ")
            ));
        }
    }
    // git runs its HTTP in git-remote-https children: counted by port and command.
    for (scenario, minimum) in [(Scenario::Git, 6), (Scenario::GitPush, 4)] {
        let seen = calls
            .iter()
            .filter(|(c, s)| {
                *s == scenario
                    && c["role"] == "client"
                    && c["process"]["command"]
                        .as_str()
                        .is_some_and(|n| n.starts_with("git-remote-http"))
            })
            .count();
        let _ = writeln!(
            summary,
            "  git-remote-https, {scenario:?}: {seen} client calls"
        );
        if seen < minimum {
            failures.push(format!(
                "{scenario:?}: the monitor reported {seen} client calls of git-remote-https, \
                 expected at least {minimum}"
            ));
        }
    }
    // And the servers' side of it (each server is traced too).
    for scenario in [
        Scenario::Pip,
        Scenario::Npm,
        Scenario::Git,
        Scenario::JsonApi,
        Scenario::S3SigV4,
    ] {
        if !counts.contains_key(&(scenario, "server".to_owned())) {
            failures.push(format!("{scenario:?}: no server-side call reported at all"));
        }
    }

    // 2. Not one finding on a benign call; on a true-positive call, findings only where the
    //    credential is.
    for (call, scenario) in &calls {
        let findings = call["credentials"].as_array().cloned().unwrap_or_default();
        for finding in &findings {
            let wrong = if scenario.benign() {
                true
            } else {
                let expected = EXPECTED
                    .iter()
                    .find(|e| e.scenario == *scenario)
                    .expect("every true-positive scenario has its expectation");
                !(expected.allowed)(finding)
            };
            if wrong {
                failures.push(format!(
                    "FALSE FINDING [{scenario:?}] {} on {}",
                    describe_finding(finding),
                    describe(call)
                ));
            }
        }
        // No personal or card data either: this traffic carries none (kinds and counts only
        // are printed, never a value).
        if let Some(sensitive) = call["sensitive_data"].as_array().filter(|s| !s.is_empty()) {
            failures.push(format!(
                "FALSE SENSITIVE DATA [{scenario:?}] {} on {}",
                Value::Array(sensitive.clone()),
                describe(call)
            ));
        }
    }
    for alert in captured.alerts() {
        let rule = alert["rule_id"].as_str().unwrap_or_default();
        let ours = alert["destination"]["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .is_some_and(|p| ports.all().contains(&p));
        if rule.starts_with("sensitive.") && ours {
            failures.push(format!(
                "FALSE SENSITIVE-DATA ALERT {rule}: {}",
                alert["summary"]
            ));
        }
    }

    // 3. Every true positive found (on the client side, the outbound call; the server side is
    //    reported).
    for expected in EXPECTED {
        let of_scenario: Vec<&Value> = calls
            .iter()
            .filter(|(_, s)| *s == expected.scenario)
            .map(|(c, _)| *c)
            .collect();
        for role in ["client", "server"] {
            let found = of_scenario
                .iter()
                .filter(|c| c["role"] == role)
                .filter(|c| {
                    c["credentials"]
                        .as_array()
                        .is_some_and(|fs| fs.iter().any(expected.required))
                })
                .count();
            let _ = writeln!(
                summary,
                "  {:?}: found on {found} {role}-side call(s)",
                expected.scenario
            );
            if role == "client" && found == 0 {
                let seen: Vec<String> = of_scenario
                    .iter()
                    .filter(|c| c["role"] == role)
                    .map(|c| {
                        let fs: Vec<String> = c["credentials"]
                            .as_array()
                            .map(|fs| fs.iter().map(describe_finding).collect())
                            .unwrap_or_default();
                        format!("{} -> [{}]", describe(c), fs.join("; "))
                    })
                    .collect();
                failures.push(format!(
                    "MISSED [{:?}] {}; its client calls:\n    {}",
                    expected.scenario,
                    expected.description,
                    if seen.is_empty() {
                        "(none reported)".to_owned()
                    } else {
                        seen.join("\n    ")
                    }
                ));
            }
        }
    }

    // What was found where, per scenario (for the report; no value is printed).
    let mut found: BTreeMap<(Scenario, String, String), usize> = BTreeMap::new();
    for (call, scenario) in &calls {
        for finding in call["credentials"].as_array().into_iter().flatten() {
            let key = (
                *scenario,
                call["role"].as_str().unwrap_or("?").to_owned(),
                describe_finding(finding),
            );
            *found.entry(key).or_default() += 1;
        }
    }
    let _ = writeln!(summary, "findings (scenario, side, finding: calls):");
    for ((scenario, role, finding), n) in &found {
        let _ = writeln!(summary, "  {scenario:?}, {role}, {finding}: {n}");
    }

    // 4. No raw credential in anything the monitor printed.
    let everything = captured.all_output();
    for (i, secret) in secrets.iter().enumerate() {
        if everything.contains(secret) {
            failures.push(format!(
                "credential #{i} of the run appears raw in the monitor's output"
            ));
        }
    }
    Report { summary, failures }
}
