//! The AT modem driver: commands and answers over any async byte stream (a serial device opened with
//! `tokio-serial`, a pseudo-terminal, an in-memory pipe in tests). One owner, one command at a time;
//! unsolicited result codes that arrive in the middle of an answer are queued, not lost.

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, timeout_at};

use crate::at::{self, ErrorCode, Final, PduUrc, Registration, Stored, Token, Urc};
use crate::pdu;

/// How long to wait for each kind of answer.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Ordinary commands.
    pub command: Duration,
    /// The `> ` prompt after `AT+CMGS=<n>`.
    pub prompt: Duration,
    /// `+CMGS: <mr>` after the PDU: the network's answer, seconds on real modems.
    pub send: Duration,
    /// The network's `+CUSD:` answer.
    pub ussd: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            command: Duration::from_secs(5),
            prompt: Duration::from_secs(5),
            send: Duration::from_secs(60),
            ussd: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ModemError {
    #[error("serial I/O: {0}")]
    Io(#[from] io::Error),
    #[error("the device closed")]
    Closed,
    #[error("no answer to {0} in time")]
    Timeout(String),
    #[error("{0}: ERROR")]
    Error(String),
    #[error("{command}: +CME ERROR: {}", error.text)]
    Cme { command: String, error: ErrorCode },
    #[error("{command}: +CMS ERROR: {}", error.text)]
    Cms { command: String, error: ErrorCode },
    #[error("unexpected answer to {command}: {detail}")]
    Unexpected { command: String, detail: String },
    #[error("{0}")]
    Sim(SimProblem),
}

/// Why the SIM is not ready. Each is the operator's to resolve; the link does not try the PIN again
/// after [`SimProblem::PinRefused`] (a SIM locks itself after three wrong PINs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimProblem {
    #[error("the SIM asks for a PIN and none is configured (--modem-pin)")]
    PinMissing,
    #[error("the configured SIM PIN is not 4 to 8 digits")]
    PinInvalid,
    #[error("the SIM refused the configured PIN; it is not entered again until the setting changes")]
    PinRefused,
    #[error("the SIM is locked and asks for its PUK: unlock it in a phone")]
    PukRequired,
    #[error("the SIM is not ready (it says {0:?})")]
    NotReady(String),
}

impl ModemError {
    /// The connection is unusable: reopen the device.
    pub fn is_fatal(&self) -> bool {
        matches!(self, ModemError::Io(_) | ModemError::Closed | ModemError::Timeout(_))
    }
}

/// What the modem says it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModemInfo {
    pub manufacturer: String,
    pub model: String,
    pub revision: String,
    pub imei: String,
}

/// Signal, registration and operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub signal_dbm: Option<i16>,
    pub registration: Option<Registration>,
    pub operator: Option<String>,
}

pub struct Modem<S> {
    io: S,
    reader: at::LineReader,
    urcs: VecDeque<Urc>,
    /// The last line was `+CDS:`/`+CMT:`: the next line is its PDU.
    pdu_urc: Option<PduUrc>,
    /// A command timed out: its late answer may still come; resynchronise before the next one.
    desynced: bool,
    timeouts: Timeouts,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Modem<S> {
    pub fn new(io: S, timeouts: Timeouts) -> Self {
        Self {
            io,
            reader: at::LineReader::default(),
            urcs: VecDeque::new(),
            pdu_urc: None,
            desynced: true,
            timeouts,
        }
    }

    /// Gets the modem ready: in step, echo off, numeric errors, SIM unlocked with `pin` if it asks, PDU
    /// mode, new messages announced as `+CMTI`, status reports routed as `+CDS` (or stored, `+CDSI`).
    pub async fn init(&mut self, pin: Option<&str>) -> Result<ModemInfo, ModemError> {
        self.resync().await?;
        self.command("ATE0").await?;
        self.command("AT+CMEE=1").await?;
        self.unlock(pin).await?;
        self.command("AT+CMGF=0").await?;
        if self.command("AT+CNMI=2,1,0,1,0").await.is_err() {
            self.command("AT+CNMI=2,1,0,2,0").await?;
        }
        // Registration changes as URCs; not every modem has it.
        let _ = self.command("AT+CREG=1").await;
        let mut info = ModemInfo::default();
        for (cmd, field) in [
            ("AT+CGMI", &mut info.manufacturer),
            ("AT+CGMM", &mut info.model),
            ("AT+CGMR", &mut info.revision),
            ("AT+CGSN", &mut info.imei),
        ] {
            if let Ok(lines) = self.command(cmd).await {
                *field = lines.first().map(|l| strip_prefix_any(l)).unwrap_or_default();
            }
        }
        Ok(info)
    }

    async fn unlock(&mut self, pin: Option<&str>) -> Result<(), ModemError> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut entered = false;
        loop {
            let state = match self.command("AT+CPIN?").await {
                Ok(lines) => at::parse_cpin(&lines).unwrap_or_default(),
                // SIM busy (14) right after power-on: ask again.
                Err(ModemError::Cme { error, .. }) if error.code == Some(14) => String::new(),
                Err(ModemError::Cme { error, .. }) if error.code == Some(12) => {
                    return Err(ModemError::Sim(SimProblem::PukRequired));
                }
                Err(e) => return Err(e),
            };
            match state.as_str() {
                "READY" => return Ok(()),
                // Asked again after a PIN was taken: it was not the right one.
                "SIM PIN" if entered => return Err(ModemError::Sim(SimProblem::PinRefused)),
                "SIM PIN" => {
                    let pin = pin.ok_or(ModemError::Sim(SimProblem::PinMissing))?;
                    if pin.len() < 4 || pin.len() > 8 || !pin.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(ModemError::Sim(SimProblem::PinInvalid));
                    }
                    // The PIN is a secret: the error names the command without it.
                    let entry = self
                        .command_labelled(
                            &format!("AT+CPIN=\"{pin}\""),
                            "AT+CPIN=<pin>",
                            self.timeouts.command,
                        )
                        .await;
                    match entry {
                        Ok(_) => entered = true,
                        // Incorrect password (16), or the SIM locked itself with this try (12).
                        Err(ModemError::Cme { error, .. }) if error.code == Some(16) => {
                            return Err(ModemError::Sim(SimProblem::PinRefused));
                        }
                        Err(ModemError::Cme { error, .. }) if error.code == Some(12) => {
                            return Err(ModemError::Sim(SimProblem::PukRequired));
                        }
                        Err(e) => return Err(e),
                    }
                }
                s if s.contains("PUK") => return Err(ModemError::Sim(SimProblem::PukRequired)),
                _ => {}
            }
            if Instant::now() > deadline {
                return Err(ModemError::Sim(SimProblem::NotReady(state)));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Sends one SMS-SUBMIT PDU; returns the message reference the network gave it.
    pub async fn send_pdu(&mut self, pdu: &[u8], tpdu_len: usize) -> Result<u8, ModemError> {
        if self.desynced {
            self.resync().await?;
        }
        let cmd = format!("AT+CMGS={tpdu_len}");
        self.write(&format!("{cmd}\r")).await?;
        let deadline = Instant::now() + self.timeouts.prompt;
        loop {
            match self.next_token(deadline, &cmd).await? {
                Token::Prompt => break,
                Token::Line(line) => {
                    if let Some(result) = self.classify(&line, &cmd, &mut Vec::new(), None) {
                        result?;
                        return Err(ModemError::Unexpected {
                            command: cmd,
                            detail: "OK instead of the prompt".into(),
                        });
                    }
                }
            }
        }
        let hex = pdu::to_hex(pdu);
        self.write(&format!("{hex}\x1a")).await?;
        let lines = self.collect(&cmd, Instant::now() + self.timeouts.send, Some(&hex)).await?;
        at::parse_cmgs(&lines)
            .ok_or_else(|| ModemError::Unexpected { command: cmd, detail: "no +CMGS: <mr>".into() })
    }

    /// Every message in the modem's storage (`AT+CMGL=4`), read or not; those whose PDU cannot be read
    /// too, as they came.
    pub async fn list(&mut self) -> Result<Vec<Stored>, ModemError> {
        Ok(at::parse_cmgl(&self.command("AT+CMGL=4").await?))
    }

    /// Forgets the queued announcements (`+CMTI`, `+CDSI`) of the slots `listed` holds: a listing that
    /// ran after them has offered those messages already, and reading a slot a second time would offer
    /// its message twice (or, once it was deleted, a newer message that took the slot).
    pub fn forget_announcements(&mut self, listed: impl Fn(u32) -> bool) {
        self.urcs.retain(|urc| match urc {
            Urc::NewMessage { index, .. } | Urc::NewReport { index, .. } => !listed(*index),
            _ => true,
        });
    }

    /// The message at `index`, if there is one.
    pub async fn read(&mut self, index: u32) -> Result<Option<Stored>, ModemError> {
        let cmd = format!("AT+CMGR={index}");
        match self.command(&cmd).await {
            Ok(lines) => Ok(at::parse_cmgr(index, &lines)),
            // Invalid index / not found: the slot is empty.
            Err(ModemError::Cms { error, .. }) if error.code == Some(321) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn delete(&mut self, index: u32) -> Result<(), ModemError> {
        self.command(&format!("AT+CMGD={index}")).await.map(drop)
    }

    pub async fn health(&mut self) -> Result<Health, ModemError> {
        let signal_dbm = at::parse_csq(&self.command("AT+CSQ").await?).flatten();
        let registration = at::parse_creg(&self.command("AT+CREG?").await?);
        let operator = match self.command("AT+COPS?").await {
            Ok(lines) => at::parse_cops(&lines),
            Err(e) if e.is_fatal() => return Err(e),
            Err(_) => None,
        };
        Ok(Health { signal_dbm, registration, operator })
    }

    /// Asks the network by USSD (e.g. the prepaid balance code). The answer comes later, as a
    /// [`Urc::Ussd`] from [`Modem::next_urc`]: the network may take seconds or never answer, and the modem
    /// goes on with other commands meanwhile.
    pub async fn ussd_start(&mut self, code: &str) -> Result<(), ModemError> {
        let valid = !code.is_empty()
            && code.len() <= 32
            && code.bytes().all(|b| b.is_ascii_digit() || b == b'*' || b == b'#');
        if !valid {
            return Err(ModemError::Unexpected {
                command: "AT+CUSD".into(),
                detail: "a USSD code is digits, * and #".into(),
            });
        }
        self.command(&format!("AT+CUSD=1,\"{code}\",15")).await.map(drop)
    }

    /// Ends a USSD session the network left unanswered (`AT+CUSD=2`).
    pub async fn ussd_cancel(&mut self) -> Result<(), ModemError> {
        self.command("AT+CUSD=2").await.map(drop)
    }

    /// The next unsolicited result code, waiting for one. Cancel-safe: what was read stays buffered.
    pub async fn next_urc(&mut self) -> Result<Urc, ModemError> {
        loop {
            if let Some(urc) = self.urcs.pop_front() {
                return Ok(urc);
            }
            self.wait_for_urc(Instant::now() + Duration::from_secs(24 * 3600)).await?;
        }
    }

    /// Reads until at least one URC is queued (or the deadline passes). Lines outside a command that are
    /// not URCs (a late answer after a timeout) are dropped.
    async fn wait_for_urc(&mut self, deadline: Instant) -> Result<(), ModemError> {
        let before = self.urcs.len();
        while self.urcs.len() == before {
            if let Token::Line(line) = self.next_token(deadline, "").await? {
                self.classify(&line, "", &mut Vec::new(), None);
            }
        }
        Ok(())
    }

    /// URCs queued while commands ran.
    pub fn pending_urcs(&self) -> usize {
        self.urcs.len()
    }

    /// Runs `cmd` and returns its information lines.
    pub async fn command(&mut self, cmd: &str) -> Result<Vec<String>, ModemError> {
        self.command_labelled(cmd, cmd, self.timeouts.command).await
    }

    async fn command_labelled(
        &mut self,
        cmd: &str,
        label: &str,
        timeout: Duration,
    ) -> Result<Vec<String>, ModemError> {
        if self.desynced && cmd != "AT" {
            self.resync().await?;
        }
        self.write(&format!("{cmd}\r")).await?;
        let result = self.collect(cmd, Instant::now() + timeout, None).await;
        result.map_err(|e| relabel(e, cmd, label))
    }

    /// Gets back in step after a timeout or at start: ESC (ends a half-sent `AT+CMGS`), then `AT` until an
    /// `OK` comes, then whatever else was on its way is dropped.
    async fn resync(&mut self) -> Result<(), ModemError> {
        for _ in 0..3 {
            self.write("\x1b\r").await?;
            self.reader.clear();
            self.desynced = false;
            self.write("AT\r").await?;
            match self.collect("AT", Instant::now() + Duration::from_secs(2), None).await {
                Ok(_) => {
                    // A late answer to a previous command may follow just behind.
                    let quiet = Instant::now() + Duration::from_millis(50);
                    while let Ok(Token::Line(line)) = self.next_token(quiet, "").await {
                        self.classify(&line, "", &mut Vec::new(), None);
                    }
                    self.desynced = false;
                    return Ok(());
                }
                Err(e) if e.is_fatal() && !matches!(e, ModemError::Timeout(_)) => return Err(e),
                Err(_) => {}
            }
        }
        self.desynced = true;
        Err(ModemError::Timeout("AT".into()))
    }

    async fn write(&mut self, s: &str) -> Result<(), ModemError> {
        self.io.write_all(s.as_bytes()).await?;
        self.io.flush().await?;
        Ok(())
    }

    /// Reads lines until the final result code of `cmd`.
    async fn collect(
        &mut self,
        cmd: &str,
        deadline: Instant,
        pdu_echo: Option<&str>,
    ) -> Result<Vec<String>, ModemError> {
        let mut info = Vec::new();
        loop {
            if let Token::Line(line) = self.next_token(deadline, cmd).await?
                && let Some(result) = self.classify(&line, cmd, &mut info, pdu_echo)
            {
                return result.map(|()| info);
            }
        }
    }

    /// Sorts one line: the PDU of a pending `+CDS`/`+CMT`, an echo, a final result (returned), a URC
    /// (queued), or an information line of `cmd` (pushed to `info`).
    fn classify(
        &mut self,
        line: &str,
        cmd: &str,
        info: &mut Vec<String>,
        pdu_echo: Option<&str>,
    ) -> Option<Result<(), ModemError>> {
        if let Some(kind) = self.pdu_urc.take() {
            match at::pdu_line(line) {
                Ok(pdu) => {
                    self.urcs.push_back(match kind {
                        PduUrc::Report => Urc::Report { pdu },
                        PduUrc::Message => Urc::Message { pdu },
                    });
                    return None;
                }
                Err(_) => tracing::warn!(line, "expected a PDU after +CDS/+CMT"),
            }
        }
        let mut line = line.trim();
        if !cmd.is_empty() && line.eq_ignore_ascii_case(cmd) {
            return None; // echo
        }
        if let Some(hex) = pdu_echo
            && let Some(rest) = line.strip_prefix(hex)
        {
            line = rest.trim_start_matches('\x1a').trim();
            if line.is_empty() {
                return None;
            }
        }
        if let Some(code) = at::final_code(line) {
            let command = cmd.to_owned();
            return Some(match code {
                Final::Ok => Ok(()),
                Final::Error => Err(ModemError::Error(command)),
                Final::Cme(error) => Err(ModemError::Cme { command, error }),
                Final::Cms(error) => Err(ModemError::Cms { command, error }),
                Final::Other(text) => Err(ModemError::Unexpected { command, detail: text }),
            });
        }
        let command = (!cmd.is_empty()).then_some(cmd);
        match at::unsolicited(line, command) {
            Some(Ok(urc)) => self.urcs.push_back(urc),
            Some(Err(kind)) => self.pdu_urc = Some(kind),
            None if command.is_some() => info.push(line.to_owned()),
            None => tracing::debug!(line, "ignored modem line"),
        }
        None
    }

    async fn next_token(&mut self, deadline: Instant, cmd: &str) -> Result<Token, ModemError> {
        loop {
            if let Some(token) = self.reader.next_token() {
                return Ok(token);
            }
            let mut buf = [0u8; 1024];
            match timeout_at(deadline, self.io.read(&mut buf)).await {
                Err(_) => {
                    if !cmd.is_empty() {
                        self.desynced = true;
                    }
                    return Err(ModemError::Timeout(if cmd.is_empty() {
                        "nothing".into()
                    } else {
                        cmd.into()
                    }));
                }
                Ok(Ok(0)) => return Err(ModemError::Closed),
                Ok(Ok(n)) => self.reader.push(&buf[..n]),
                // A pseudo-terminal whose other side went away reads EIO: the device is gone.
                Ok(Err(e)) => return Err(ModemError::Io(e)),
            }
        }
    }
}

fn relabel(e: ModemError, cmd: &str, label: &str) -> ModemError {
    if cmd == label {
        return e;
    }
    match e {
        ModemError::Timeout(_) => ModemError::Timeout(label.into()),
        ModemError::Error(_) => ModemError::Error(label.into()),
        ModemError::Cme { error, .. } => ModemError::Cme { command: label.into(), error },
        ModemError::Cms { error, .. } => ModemError::Cms { command: label.into(), error },
        ModemError::Unexpected { detail, .. } => ModemError::Unexpected { command: label.into(), detail },
        other => other,
    }
}

/// `+CGMI: "Huawei"` and `Huawei` both give `Huawei`.
fn strip_prefix_any(line: &str) -> String {
    let value = match line.split_once(':') {
        Some((head, rest)) if head.starts_with('+') => rest,
        _ => line,
    };
    value.trim().trim_matches('"').to_owned()
}
