//! Chat templates: untrusted Jinja from `tokenizer_config.json`, rendered under limits.
//!
//! minijinja's fuel bounds the number of instructions and a capped writer bounds the output, but
//! neither bounds memory: one expression may build a 100 MB string and a recursive macro can double
//! it at every level. So renders of a miner's template happen in a child process
//! ([`Sandbox`]) that caps its own address space and CPU time and is killed at a wall-clock
//! deadline. [`ChatTemplate::render`] is the in-process renderer the child (and trusted callers)
//! use.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// ChatML (what SmolLM2 and Qwen use), Kindred's wording: `<|im_start|>role\ncontent<|im_end|>\n`
/// per message, a default system message when the conversation has none, and the assistant's
/// header when a reply is wanted. Competitions render every prompt with it.
pub const CHATML: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// One chat message as templates expect it (`message['role']`, `message['content']`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: &str, content: &str) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// One conversation to render.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderRequest {
    pub messages: Vec<ChatMessage>,
    pub add_generation_prompt: bool,
}

/// In-process limits applied to every render.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct TemplateLimits {
    /// minijinja instructions per render.
    pub fuel: u64,
    pub max_output_bytes: usize,
    pub max_source_bytes: usize,
}

impl Default for TemplateLimits {
    fn default() -> Self {
        Self {
            fuel: 2_000_000,
            max_output_bytes: 256 * 1024,
            max_source_bytes: 256 * 1024,
        }
    }
}

/// Why a template could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("tokenizer_config.json is not valid JSON: {0}")]
    ConfigJson(#[from] serde_json::Error),
    #[error("tokenizer_config.json has no usable chat_template")]
    Missing,
    #[error("the template source is {0} bytes, over the limit")]
    SourceTooLarge(usize),
    #[error("the template does not compile: {0}")]
    Syntax(#[source] minijinja::Error),
    #[error("rendering failed: {0}")]
    Render(#[source] minijinja::Error),
    #[error("the rendered output exceeds {0} bytes")]
    OutputTooLarge(usize),
    #[error("rendering failed in the sandbox: {0}")]
    Sandboxed(String),
    #[error("the sandboxed render exceeded its {0:?} deadline")]
    Timeout(Duration),
    #[error("the sandboxed render was killed or exited abnormally ({0}); likely its memory or CPU cap")]
    ResourceLimit(String),
    #[error("could not run the template sandbox: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("the template sandbox answered nonsense: {0}")]
    Protocol(String),
    #[error("the template sandbox cannot render even a trivial template ({0}); this machine's fault")]
    Broken(String),
}

impl TemplateError {
    /// Spawn, protocol and broken-sandbox failures are ours; everything else is the
    /// template's fault.
    pub fn is_infrastructure(&self) -> bool {
        matches!(self, Self::Spawn(_) | Self::Protocol(_) | Self::Broken(_))
    }
}

/// A chat template with the special tokens it may reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatTemplate {
    pub source: String,
    pub bos_token: String,
    pub eos_token: String,
}

fn token_text(v: Option<&serde_json::Value>) -> String {
    match v {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Object(o)) => o
            .get("content")
            .and_then(|c| c.as_str())
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    }
}

struct CappedWriter {
    buf: Vec<u8>,
    cap: usize,
    overflowed: bool,
}

impl Write for CappedWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > self.cap {
            self.overflowed = true;
            return Err(std::io::Error::other("output cap reached"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl ChatTemplate {
    /// Reads `chat_template` (a string, or the `default` entry of a named list) and the
    /// bos/eos tokens from `tokenizer_config.json` bytes.
    pub fn from_tokenizer_config(bytes: &[u8]) -> Result<Self, TemplateError> {
        let v: serde_json::Value = serde_json::from_slice(bytes)?;
        let source = match v.get("chat_template") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Array(named)) => named
                .iter()
                .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
                .and_then(|t| t.get("template")?.as_str())
                .ok_or(TemplateError::Missing)?
                .to_string(),
            _ => return Err(TemplateError::Missing),
        };
        Ok(Self {
            source,
            bos_token: token_text(v.get("bos_token")),
            eos_token: token_text(v.get("eos_token")),
        })
    }

    fn environment(&self, limits: &TemplateLimits) -> Result<minijinja::Environment<'static>, TemplateError> {
        if self.source.len() > limits.max_source_bytes {
            return Err(TemplateError::SourceTooLarge(self.source.len()));
        }
        let mut env = minijinja::Environment::new();
        env.set_fuel(Some(limits.fuel));
        env.set_recursion_limit(64);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |msg: String| -> Result<String, minijinja::Error> {
                Err(minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, msg))
            },
        );
        env.add_template_owned("chat", self.source.clone())
            .map_err(TemplateError::Syntax)?;
        Ok(env)
    }

    /// Renders in this process with fuel and output limits. Memory is NOT bounded here: use
    /// [`Sandbox::render_all`] for templates from miners.
    pub fn render_all(
        &self,
        requests: &[RenderRequest],
        limits: &TemplateLimits,
    ) -> Vec<Result<String, TemplateError>> {
        let env = match self.environment(limits) {
            Ok(env) => env,
            Err(e) => {
                let msg = e.to_string();
                return requests
                    .iter()
                    .map(|_| Err(TemplateError::Sandboxed(msg.clone())))
                    .collect();
            }
        };
        requests
            .iter()
            .map(|r| self.render_one(&env, r, limits))
            .collect()
    }

    /// Renders one conversation in this process (see [`Self::render_all`] for the caveat).
    pub fn render(&self, request: &RenderRequest, limits: &TemplateLimits) -> Result<String, TemplateError> {
        let env = self.environment(limits)?;
        self.render_one(&env, request, limits)
    }

    fn render_one(
        &self,
        env: &minijinja::Environment<'static>,
        request: &RenderRequest,
        limits: &TemplateLimits,
    ) -> Result<String, TemplateError> {
        let tmpl = env.get_template("chat").map_err(TemplateError::Syntax)?;
        let ctx = minijinja::context! {
            messages => minijinja::value::Value::from(minijinja::value::Serde(&request.messages)),
            add_generation_prompt => request.add_generation_prompt,
            bos_token => &self.bos_token,
            eos_token => &self.eos_token,
        };
        let mut out = CappedWriter {
            buf: Vec::new(),
            cap: limits.max_output_bytes,
            overflowed: false,
        };
        match tmpl.render_captured_to(ctx, &mut out) {
            Ok(_) => {
                String::from_utf8(out.buf).map_err(|_| TemplateError::Protocol("non-UTF-8 output".into()))
            }
            Err(_) if out.overflowed => Err(TemplateError::OutputTooLarge(limits.max_output_bytes)),
            Err(e) => Err(TemplateError::Render(e)),
        }
    }
}

/// What the parent sends to the sandbox child on stdin.
#[derive(Debug, Serialize, Deserialize)]
struct SandboxRequest {
    template: ChatTemplate,
    limits: TemplateLimits,
    memory_limit_bytes: u64,
    cpu_limit_secs: u64,
    requests: Vec<RenderRequest>,
}

/// What the child answers on stdout: one outcome per request.
#[derive(Debug, Serialize, Deserialize)]
enum SandboxOutcome {
    Rendered(String),
    Failed(String),
}

/// A separate, resource-limited process that renders untrusted templates.
///
/// The child is any program that calls [`serve_sandbox`] when given `args`: Kindred's binaries
/// do so for a hidden `__template-sandbox` argument, and `kindred-template-sandbox` is a
/// standalone one.
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub timeout: Duration,
    pub memory_limit_bytes: u64,
    pub cpu_limit_secs: u64,
    pub limits: TemplateLimits,
}

/// The argument Kindred's binaries recognise before parsing their command line.
pub const SANDBOX_ARG: &str = "__template-sandbox";

impl Sandbox {
    pub fn new(program: PathBuf, args: Vec<String>) -> Self {
        Self {
            program,
            args,
            timeout: Duration::from_secs(20),
            memory_limit_bytes: 1024 * 1024 * 1024,
            cpu_limit_secs: 10,
            limits: TemplateLimits::default(),
        }
    }

    /// The running binary, re-executed with [`SANDBOX_ARG`].
    pub fn current_exe() -> std::io::Result<Self> {
        Ok(Self::new(std::env::current_exe()?, vec![SANDBOX_ARG.to_string()]))
    }

    /// Renders every request in one child process. The outer error means the whole batch failed
    /// (deadline, resource cap, spawn failure); inner errors are per conversation.
    ///
    /// A killed child is blamed on the template only after a trivial template renders fine in
    /// the same sandbox; otherwise the sandbox itself is broken here (an allocator that cannot
    /// live under the memory cap, an overloaded machine) and the error is ours, not the miner's.
    pub fn render_all(
        &self,
        template: &ChatTemplate,
        requests: &[RenderRequest],
    ) -> Result<Vec<Result<String, TemplateError>>, TemplateError> {
        match self.render_once(template, requests) {
            Err(e @ (TemplateError::ResourceLimit(_) | TemplateError::Timeout(_))) => {
                let canary = ChatTemplate {
                    source: "{% for m in messages %}{{ m.content }}{% endfor %}".into(),
                    bos_token: String::new(),
                    eos_token: String::new(),
                };
                let probe = RenderRequest {
                    messages: vec![ChatMessage::new("user", "ok")],
                    add_generation_prompt: false,
                };
                match self.render_once(&canary, &[probe]) {
                    Ok(out) if matches!(out.first(), Some(Ok(text)) if text == "ok") => Err(e),
                    Ok(_) => Err(TemplateError::Broken("the canary rendered wrongly".into())),
                    Err(canary_err) => Err(TemplateError::Broken(canary_err.to_string())),
                }
            }
            other => other,
        }
    }

    fn render_once(
        &self,
        template: &ChatTemplate,
        requests: &[RenderRequest],
    ) -> Result<Vec<Result<String, TemplateError>>, TemplateError> {
        let request = SandboxRequest {
            template: template.clone(),
            limits: self.limits,
            memory_limit_bytes: self.memory_limit_bytes,
            cpu_limit_secs: self.cpu_limit_secs,
            requests: requests.to_vec(),
        };
        let payload = serde_json::to_vec(&request).map_err(|e| TemplateError::Protocol(e.to_string()))?;
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // mimalloc (used by Kindred's binaries) reserves 1 GiB arenas by default, which the
            // address-space cap forbids; smaller arenas keep the child working under the cap.
            .env("MIMALLOC_ARENA_RESERVE", "64MiB")
            .spawn()
            .map_err(TemplateError::Spawn)?;
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| TemplateError::Protocol("no stdin".into()))?;
        let writer = std::thread::spawn(move || {
            // A child that dies early closes the pipe; that shows up in its exit status instead.
            let _ = stdin.write_all(&payload);
        });
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| TemplateError::Protocol("no stdout".into()))?;
        // Escaping can grow text, so allow a generous multiple of the per-render output cap.
        let cap = (requests.len() as u64 + 1) * (self.limits.max_output_bytes as u64 * 8 + 1024);
        let reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            stdout.take(cap).read_to_end(&mut buf).map(|_| buf)
        });
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait().map_err(TemplateError::Spawn)? {
                Some(status) => break status,
                None if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(TemplateError::Timeout(self.timeout));
                }
                None => std::thread::sleep(Duration::from_millis(5)),
            }
        };
        let _ = writer.join();
        let out = reader
            .join()
            .map_err(|_| TemplateError::Protocol("reader thread panicked".into()))?
            .map_err(TemplateError::Spawn)?;
        if !status.success() {
            return Err(TemplateError::ResourceLimit(status.to_string()));
        }
        let outcomes: Vec<SandboxOutcome> =
            serde_json::from_slice(&out).map_err(|e| TemplateError::Protocol(e.to_string()))?;
        if outcomes.len() != requests.len() {
            return Err(TemplateError::Protocol("wrong number of outcomes".into()));
        }
        Ok(outcomes
            .into_iter()
            .map(|o| match o {
                SandboxOutcome::Rendered(s) => Ok(s),
                SandboxOutcome::Failed(msg) => Err(TemplateError::Sandboxed(msg)),
            })
            .collect())
    }
}

/// The sandbox child: caps its own memory and CPU, reads one request from stdin, answers on
/// stdout. Returns the process exit code.
pub fn serve_sandbox() -> i32 {
    let mut input = Vec::new();
    if std::io::stdin()
        .take(64 * 1024 * 1024)
        .read_to_end(&mut input)
        .is_err()
    {
        return 2;
    }
    let Ok(request) = serde_json::from_slice::<SandboxRequest>(&input) else {
        return 2;
    };
    drop(input);
    let caps = rlimit::setrlimit(
        rlimit::Resource::AS,
        request.memory_limit_bytes,
        request.memory_limit_bytes,
    )
    .and_then(|()| {
        rlimit::setrlimit(
            rlimit::Resource::CPU,
            request.cpu_limit_secs,
            request.cpu_limit_secs + 1,
        )
    });
    if caps.is_err() {
        // Refuse to render unbounded rather than pretend to be a sandbox.
        return 3;
    }
    let outcomes: Vec<SandboxOutcome> = request
        .template
        .render_all(&request.requests, &request.limits)
        .into_iter()
        .map(|r| match r {
            Ok(s) => SandboxOutcome::Rendered(s),
            Err(e) => SandboxOutcome::Failed(e.to_string()),
        })
        .collect();
    match serde_json::to_writer(std::io::stdout().lock(), &outcomes) {
        Ok(()) => 0,
        Err(_) => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHATML: &str = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

    fn tmpl(source: &str) -> ChatTemplate {
        ChatTemplate {
            source: source.into(),
            bos_token: "<s>".into(),
            eos_token: "</s>".into(),
        }
    }

    fn conv() -> RenderRequest {
        RenderRequest {
            messages: vec![ChatMessage::new("system", "S"), ChatMessage::new("user", "U")],
            add_generation_prompt: true,
        }
    }

    #[test]
    fn renders_chatml() {
        let out = tmpl(CHATML)
            .render(&conv(), &TemplateLimits::default())
            .expect("renders");
        assert_eq!(
            out,
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn python_string_methods_work() {
        let out = tmpl("{{ messages[0]['content'].strip().upper() }}{{ bos_token }}")
            .render(&conv(), &TemplateLimits::default())
            .expect("pycompat");
        assert_eq!(out, "S<s>");
    }

    #[test]
    fn endless_loops_run_out_of_fuel() {
        let t = tmpl("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}");
        assert!(matches!(
            t.render(&conv(), &TemplateLimits::default()),
            Err(TemplateError::Render(_))
        ));
    }

    #[test]
    fn huge_output_is_cut() {
        let t = tmpl("{% for i in range(10000) %}{{ 'x' * 1000 }}{% endfor %}");
        assert!(matches!(
            t.render(&conv(), &TemplateLimits::default()),
            Err(TemplateError::OutputTooLarge(_))
        ));
    }

    #[test]
    fn raise_exception_is_a_render_error() {
        let t = tmpl("{{ raise_exception('roles must alternate') }}");
        let err = t.render(&conv(), &TemplateLimits::default()).expect_err("raises");
        assert!(err.to_string().contains("roles must alternate"));
    }

    #[test]
    fn reads_named_templates_and_token_objects() {
        let cfg = serde_json::json!({
            "chat_template": [{"name": "tool_use", "template": "x"}, {"name": "default", "template": "d"}],
            "bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>"
        });
        let t = ChatTemplate::from_tokenizer_config(cfg.to_string().as_bytes()).expect("parses");
        assert_eq!(
            (t.source.as_str(), t.bos_token.as_str(), t.eos_token.as_str()),
            ("d", "<s>", "</s>")
        );
        assert!(matches!(
            ChatTemplate::from_tokenizer_config(b"{}"),
            Err(TemplateError::Missing)
        ));
    }
}
