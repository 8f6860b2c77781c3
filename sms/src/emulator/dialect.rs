//! The AT dialect of an emulated modem: bytes in, answers out. Verbose result codes, echo on by default
//! (as after power-on), numeric or verbose `+CME`/`+CMS` errors, PDU mode only.

use std::time::Duration;

use super::{EmulatedModem, SERVICE_CENTRE, SIM_SLOTS, lock};
use crate::pdu;

/// Bytes to write after a delay.
pub(super) struct Reply {
    pub delay: Duration,
    pub bytes: Vec<u8>,
}

pub(super) struct Dialect {
    line: Vec<u8>,
    echo: bool,
    /// `AT+CMEE`: 0 plain `ERROR`, 1 numeric, 2 verbose.
    cmee: u8,
    /// After `AT+CMGS=<n>`: collecting the PDU until Ctrl-Z.
    pdu: Option<Vec<u8>>,
    creg: u8,
}

impl Default for Dialect {
    fn default() -> Self {
        Self { line: Vec::new(), echo: true, cmee: 0, pdu: None, creg: 0 }
    }
}

const CTRL_Z: u8 = 0x1a;
/// Wrong PINs a SIM takes before it asks for its PUK.
const PIN_TRIES: u32 = 3;
const ESC: u8 = 0x1b;

impl Dialect {
    pub fn input(&mut self, bytes: &[u8], modem: &EmulatedModem) -> Vec<Reply> {
        if lock(&modem.sim).hung {
            return Vec::new();
        }
        let mut replies = Vec::new();
        let mut echo = Vec::new();
        for &b in bytes {
            if let Some(pdu) = self.pdu.as_mut() {
                if self.echo {
                    echo.push(b);
                }
                match b {
                    CTRL_Z => {
                        let hex = String::from_utf8_lossy(pdu).trim().to_owned();
                        self.pdu = None;
                        flush(&mut echo, &mut replies);
                        replies.push(self.submit(&hex, modem));
                    }
                    ESC => {
                        self.pdu = None;
                        flush(&mut echo, &mut replies);
                        replies.push(now(ok()));
                    }
                    _ if pdu.len() < 1024 => pdu.push(b),
                    _ => {}
                }
                continue;
            }
            if self.echo {
                echo.push(b);
            }
            match b {
                b'\r' => {
                    let line = String::from_utf8_lossy(&std::mem::take(&mut self.line)).trim().to_owned();
                    flush(&mut echo, &mut replies);
                    if !line.is_empty() {
                        replies.push(self.execute(&line, modem));
                    }
                }
                b'\n' | ESC => {}
                _ if self.line.len() < 1024 => self.line.push(b),
                _ => {}
            }
        }
        flush(&mut echo, &mut replies);
        replies
    }

    fn error(&self, cme: bool, code: u16, text: &str) -> String {
        let kind = if cme { "CME" } else { "CMS" };
        match self.cmee {
            0 => "\r\nERROR\r\n".into(),
            1 => format!("\r\n+{kind} ERROR: {code}\r\n"),
            _ => format!("\r\n+{kind} ERROR: {text}\r\n"),
        }
    }

    fn submit(&mut self, hex: &str, modem: &EmulatedModem) -> Reply {
        let send_time = modem.network.knobs().send_time;
        let bytes = match pdu::from_hex(hex) {
            Ok(bytes) => bytes,
            Err(_) => return now(self.error(false, 304, "invalid PDU mode parameter")),
        };
        let answer = match modem.network.submit(&modem.sim, &bytes) {
            Ok(reference) => format!("\r\n+CMGS: {reference}\r\n\r\nOK\r\n"),
            Err(super::CMS_NO_CREDIT) => {
                self.error(false, super::CMS_NO_CREDIT, "operator determined barring")
            }
            Err(code) => self.error(false, code, "unknown error"),
        };
        Reply { delay: send_time, bytes: answer.into_bytes() }
    }

    fn execute(&mut self, line: &str, modem: &EmulatedModem) -> Reply {
        let upper = line.to_ascii_uppercase();
        let Some(body) = upper.strip_prefix("AT") else { return now("\r\nERROR\r\n".into()) };
        let original = &line[2..];
        if body.is_empty() {
            return now(ok());
        }
        if !body.starts_with('+') && !body.starts_with('^') {
            return self.basic(body, modem);
        }
        match self.extended(body, original, modem) {
            Ok(Answer::Lines(lines)) => {
                let mut out = String::new();
                for l in lines {
                    out.push_str("\r\n");
                    out.push_str(&l);
                }
                if !out.is_empty() {
                    out.push_str("\r\n");
                }
                out.push_str(&ok());
                now(out)
            }
            Ok(Answer::Prompt) => now("\r\n> ".into()),
            Err(e) => now(e),
        }
    }

    /// `ATE0`, `ATZ`, `ATI`, `AT&F`, … (several may follow each other: `ATE0V1`).
    fn basic(&mut self, body: &str, modem: &EmulatedModem) -> Reply {
        let mut rest = body;
        let mut info = Vec::new();
        while let Some(c) = rest.chars().next() {
            let cmd_len = if c == '&' { 2 } else { 1 };
            let Some(cmd) = rest.get(..cmd_len) else { break };
            rest = &rest[cmd_len..];
            let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            rest = &rest[digits.len()..];
            match cmd {
                "E" => self.echo = digits != "0",
                "Z" | "&F" => {
                    self.echo = true;
                    self.cmee = 0;
                }
                "I" => info.push("Recharge GSM network emulator".to_owned()),
                "V" | "Q" | "&C" | "&D" | "X" | "S" => {
                    if cmd == "S" {
                        rest = rest.trim_start_matches(|c: char| c == '=' || c == '?' || c.is_ascii_digit());
                    }
                }
                _ => return now("\r\nERROR\r\n".into()),
            }
        }
        let _ = modem;
        let mut out: String = info.iter().map(|l| format!("\r\n{l}")).collect();
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        out.push_str(&ok());
        now(out)
    }

    fn extended(&mut self, body: &str, original: &str, modem: &EmulatedModem) -> Result<Answer, String> {
        let (name, arg) = split_command(body);
        let original_arg = split_command(original).1;
        let mut sim = lock(&modem.sim);
        let needs_sim = matches!(
            name,
            "+CMGS" | "+CMGL" | "+CMGR" | "+CMGD" | "+CPMS" | "+CUSD" | "+CIMI" | "+CSCA" | "+CNUM" | "+COPS"
        );
        if needs_sim && !sim.unlocked {
            return Err(self.error(true, 11, "SIM PIN required"));
        }
        let lines = |v: Vec<String>| Ok(Answer::Lines(v));
        let used = sim.storage.len();
        match (name, arg) {
            ("+CMEE", Arg::Set(v)) => {
                self.cmee = v.parse().map_err(|_| self.error(true, 50, "incorrect parameters"))?;
                lines(vec![])
            }
            ("+CMEE", Arg::Read) => lines(vec![format!("+CMEE: {}", self.cmee)]),
            ("+CGMI" | "+GMI", Arg::Exec) => lines(vec!["Recharge".into()]),
            ("+CGMM" | "+GMM", Arg::Exec) => lines(vec!["GSM network emulator".into()]),
            ("+CGMR" | "+GMR", Arg::Exec) => lines(vec![env!("CARGO_PKG_VERSION").into()]),
            ("+CGSN" | "+GSN", Arg::Exec) => lines(vec![imei(&sim.number)]),
            ("+CIMI", Arg::Exec) => lines(vec![format!("22801{}", &imei(&sim.number)[5..])]),
            ("+CNUM", Arg::Exec) => lines(vec![format!("+CNUM: \"\",\"{}\",145", sim.number)]),
            ("+CPIN", Arg::Read) => lines(vec![match (sim.unlocked, sim.wrong_pins >= PIN_TRIES) {
                (true, _) => "+CPIN: READY".into(),
                (false, true) => "+CPIN: SIM PUK".into(),
                (false, false) => "+CPIN: SIM PIN".into(),
            }]),
            ("+CPIN", Arg::Set(_)) => {
                let given = v_or(original_arg, "");
                sim.pin_entries += 1;
                if sim.unlocked {
                    lines(vec![])
                } else if sim.wrong_pins >= PIN_TRIES {
                    Err(self.error(true, 12, "SIM PUK required"))
                } else if sim.pin.as_deref() == Some(given) {
                    sim.unlocked = true;
                    sim.wrong_pins = 0;
                    lines(vec![])
                } else {
                    sim.wrong_pins += 1;
                    Err(self.error(true, 16, "incorrect password"))
                }
            }
            ("+CFUN", Arg::Read) => lines(vec!["+CFUN: 1".into()]),
            ("+CFUN", Arg::Set(_)) => lines(vec![]),
            ("+CMGF", Arg::Set("0")) => lines(vec![]),
            ("+CMGF", Arg::Set(_)) => Err(self.error(false, 303, "operation not supported")),
            ("+CMGF", Arg::Read) => lines(vec!["+CMGF: 0".into()]),
            ("+CMGF", Arg::Test) => lines(vec!["+CMGF: (0)".into()]),
            ("+CNMI", Arg::Set(v)) => {
                let fields: Vec<u8> = v.split(',').map(|f| f.trim().parse().unwrap_or(0)).collect();
                sim.cnmi_mt = fields.get(1).copied().unwrap_or(0);
                sim.cnmi_ds = fields.get(3).copied().unwrap_or(0);
                lines(vec![])
            }
            ("+CNMI", Arg::Read) => lines(vec![format!("+CNMI: 2,{},0,{},0", sim.cnmi_mt, sim.cnmi_ds)]),
            ("+CNMI", Arg::Test) => lines(vec!["+CNMI: (0-2),(0-1),(0),(0-2),(0,1)".into()]),
            ("+CSCS", Arg::Set(_)) => lines(vec![]),
            ("+CSCS", Arg::Read) => lines(vec!["+CSCS: \"GSM\"".into()]),
            ("+CSCS", Arg::Test) => lines(vec!["+CSCS: (\"GSM\",\"UCS2\",\"IRA\")".into()]),
            ("+CSCA", Arg::Read) => lines(vec![format!("+CSCA: \"{SERVICE_CENTRE}\",145")]),
            ("+CSMS", Arg::Read) => lines(vec!["+CSMS: 0,1,1,1".into()]),
            ("+CSMS", Arg::Set(_)) => lines(vec!["+CSMS: 1,1,1".into()]),
            ("+CPMS", Arg::Test) => lines(vec!["+CPMS: (\"SM\"),(\"SM\"),(\"SM\")".into()]),
            ("+CPMS", Arg::Read) => lines(vec![format!(
                "+CPMS: \"SM\",{used},{SIM_SLOTS},\"SM\",{used},{SIM_SLOTS},\"SM\",{used},{SIM_SLOTS}"
            )]),
            ("+CPMS", Arg::Set(v)) => {
                if v.split(',').all(|s| s.trim_matches('"') == "SM") {
                    lines(vec![format!("+CPMS: {used},{SIM_SLOTS},{used},{SIM_SLOTS},{used},{SIM_SLOTS}")])
                } else {
                    Err(self.error(false, 302, "operation not allowed"))
                }
            }
            ("+CMGS", Arg::Set(v)) => match v.parse::<usize>() {
                Ok(1..=176) => {
                    self.pdu = Some(Vec::new());
                    Ok(Answer::Prompt)
                }
                _ => Err(self.error(false, 304, "invalid PDU mode parameter")),
            },
            ("+CMGL", Arg::Test) => lines(vec!["+CMGL: (0-4)".into()]),
            ("+CMGL", Arg::Set(_) | Arg::Exec) if matches!(v_or(arg, "4"), "0" | "1" | "2" | "3" | "4") => {
                let filter: u8 = v_or(arg, "4").parse().unwrap_or(4);
                let mut out = Vec::new();
                let sim = &mut *sim;
                for (index, (status, pdu)) in sim.storage.iter_mut() {
                    if filter == 4 || *status == filter {
                        out.push(format!("+CMGL: {index},{status},,{}", tpdu_len(pdu)));
                        let garble = sim.garble.get(index).map_or("", String::as_str);
                        out.push(format!("{}{garble}", pdu::to_hex(pdu)));
                        if *status == 0 {
                            *status = 1;
                        }
                    }
                }
                lines(out)
            }
            ("+CMGR", Arg::Set(v)) => {
                let index: u32 = v.parse().map_err(|_| self.error(false, 321, "invalid memory index"))?;
                let garble = sim.garble.get(&index).cloned().unwrap_or_default();
                match sim.storage.get_mut(&index) {
                    Some((status, pdu)) => {
                        let out = vec![
                            format!("+CMGR: {status},,{}", tpdu_len(pdu)),
                            format!("{}{garble}", pdu::to_hex(pdu)),
                        ];
                        if *status == 0 {
                            *status = 1;
                        }
                        lines(out)
                    }
                    None => Err(self.error(false, 321, "invalid memory index")),
                }
            }
            ("+CMGD", Arg::Set(v)) => {
                let mut fields = v.split(',');
                let index: u32 = fields
                    .next()
                    .and_then(|f| f.trim().parse().ok())
                    .ok_or_else(|| self.error(false, 321, "invalid memory index"))?;
                match fields.next().map(str::trim) {
                    Some("4") => sim.storage.clear(),
                    Some(flag) if flag != "0" => sim.storage.retain(|_, (s, _)| *s != 1),
                    _ => {
                        sim.storage.remove(&index);
                    }
                }
                let sim = &mut *sim;
                sim.garble.retain(|slot, _| sim.storage.contains_key(slot));
                lines(vec![])
            }
            ("+CMGD", Arg::Test) => {
                let indexes: Vec<String> = sim.storage.keys().map(u32::to_string).collect();
                lines(vec![format!("+CMGD: ({}),(0-4)", indexes.join(","))])
            }
            ("+CSQ", Arg::Exec) => lines(vec![format!("+CSQ: {},99", sim.signal_rssi)]),
            ("+CREG", Arg::Set(v)) => {
                self.creg = v.parse().unwrap_or(0);
                lines(vec![])
            }
            ("+CREG", Arg::Read) => lines(vec![format!("+CREG: {},1", self.creg)]),
            ("+COPS", Arg::Read) => lines(vec!["+COPS: 0,0,\"Recharge GSM\",2".into()]),
            ("+CUSD", Arg::Set(v)) => {
                let fields = crate::at::csv(v);
                let code = fields.get(1).cloned().unwrap_or_default();
                let text = match (code.as_str(), sim.credit) {
                    (_, _) if code.is_empty() => return lines(vec![]),
                    ("*130#" | "*121#", Some(c)) => {
                        format!("Votre credit est de CHF {}.{:02}", c / 100, c % 100)
                    }
                    ("*130#" | "*121#", None) => "Abonnement sans limite de credit".to_owned(),
                    _ => "Code inconnu".to_owned(),
                };
                // The answer comes from the network after the OK (or never, from a silent network).
                if !sim.ussd_silent {
                    sim.urc(format!("\r\n+CUSD: 0,\"{text}\",15\r\n"));
                }
                lines(vec![])
            }
            ("+CLIP" | "+CRC" | "+CSDH" | "+CGREG" | "+CEREG" | "+CMMS" | "+CPBS" | "+CVHU", _) => {
                lines(vec![])
            }
            _ => Err(if self.cmee == 0 {
                "\r\nERROR\r\n".into()
            } else {
                self.error(true, 4, "operation not supported")
            }),
        }
    }
}

fn v_or<'a>(arg: Arg<'a>, default: &'a str) -> &'a str {
    match arg {
        Arg::Set(v) => v.trim_matches('"'),
        _ => default,
    }
}

enum Answer {
    Lines(Vec<String>),
    Prompt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arg<'a> {
    Exec,
    Read,
    Test,
    Set(&'a str),
}

fn split_command(body: &str) -> (&str, Arg<'_>) {
    if let Some(name) = body.strip_suffix("=?") {
        return (name, Arg::Test);
    }
    if let Some(name) = body.strip_suffix('?') {
        return (name, Arg::Read);
    }
    match body.split_once('=') {
        Some((name, value)) => (name, Arg::Set(value.trim())),
        None => (body, Arg::Exec),
    }
}

/// The TPDU length `+CMGL`/`+CMGR` show: the PDU without its service-centre address.
fn tpdu_len(pdu: &[u8]) -> usize {
    pdu.len().saturating_sub(1 + usize::from(pdu.first().copied().unwrap_or(0)))
}

/// A stable 15-digit IMEI-like serial from the phone number.
fn imei(number: &str) -> String {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    format!("35{:0>13}", &digits[digits.len().saturating_sub(13)..])
}

fn ok() -> String {
    "\r\nOK\r\n".into()
}

fn now(s: String) -> Reply {
    Reply { delay: Duration::ZERO, bytes: s.into_bytes() }
}

fn flush(echo: &mut Vec<u8>, replies: &mut Vec<Reply>) {
    if !echo.is_empty() {
        replies.push(Reply { delay: Duration::ZERO, bytes: std::mem::take(echo) });
    }
}
