//! One request's outcome, as a line of the requests file:
//! `due_ms <TAB> latency_us <TAB> status|error:KIND <TAB> version <TAB> lag_us <TAB> connect_us`
//! (the last two may be missing in files of older runs: read as 0).

use std::fmt;

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A complete HTTP answer: its status and the version that served it (`X-App-Version`,
    /// else the body), `-` when there was none.
    Answer { status: u16, version: String },
    /// No complete HTTP answer: `connect-refused`, `reset`, `timeout`, `incomplete`, ...
    Error(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// When the request was due (Unix epoch, ms): the schedule, not the send time.
    pub due_ms: u64,
    /// From due to the last byte of the answer (or the error), so queueing behind slow
    /// answers counts too.
    pub latency_us: u64,
    pub outcome: Outcome,
    /// How late the request was sent: from due to the start of its connection attempt (the
    /// load generator's own scheduling and queueing, not the target's).
    pub lag_us: u64,
    /// How long the TCP connection to the target took to open (or to fail).
    pub connect_us: u64,
}

impl Record {
    pub fn is_success(&self) -> bool {
        matches!(self.outcome, Outcome::Answer { status, .. } if (200..300).contains(&status))
    }

    pub fn version(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Answer { version, .. } if self.is_success() => Some(version),
            _ => None,
        }
    }

    pub fn parse(line: &str) -> Option<Record> {
        let mut fields = line.split('\t');
        let due_ms = fields.next()?.parse().ok()?;
        let latency_us = fields.next()?.parse().ok()?;
        let result = fields.next()?;
        let version = fields.next().unwrap_or("-").to_string();
        let lag_us = fields.next().map_or(Some(0), |f| f.parse().ok())?;
        let connect_us = fields.next().map_or(Some(0), |f| f.parse().ok())?;
        let outcome = match result.strip_prefix("error:") {
            Some(kind) => Outcome::Error(kind.to_string()),
            None => Outcome::Answer {
                status: result.parse().ok()?,
                version,
            },
        };
        Some(Record {
            due_ms,
            latency_us,
            outcome,
            lag_us,
            connect_us,
        })
    }
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            Outcome::Answer { status, version } => write!(
                f,
                "{}\t{}\t{status}\t{version}",
                self.due_ms, self.latency_us
            )?,
            Outcome::Error(kind) => {
                write!(f, "{}\t{}\terror:{kind}\t-", self.due_ms, self.latency_us)?
            }
        }
        write!(f, "\t{}\t{}", self.lag_us, self.connect_us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        for record in [
            Record {
                due_ms: 1_700_000_000_123,
                latency_us: 1534,
                outcome: Outcome::Answer {
                    status: 200,
                    version: "1.1.0".into(),
                },
                lag_us: 12,
                connect_us: 300,
            },
            Record {
                due_ms: 5,
                latency_us: 7,
                outcome: Outcome::Error("connect-refused".into()),
                lag_us: 0,
                connect_us: 7,
            },
        ] {
            assert_eq!(Record::parse(&record.to_string()), Some(record));
        }
        assert_eq!(Record::parse("garbage"), None);
        // A line of an older run, without the lag and connect times.
        let old = Record::parse("5\t7\t200\t1.0.0").expect("old line");
        assert_eq!((old.lag_us, old.connect_us), (0, 0));
        assert_eq!(Record::parse("5\t7\t200\t1.0.0\tx"), None);
    }

    #[test]
    fn only_2xx_answers_carry_a_version() {
        let answer = |status| Record {
            due_ms: 0,
            latency_us: 0,
            outcome: Outcome::Answer {
                status,
                version: "1.0.0".into(),
            },
            lag_us: 0,
            connect_us: 0,
        };
        assert_eq!(answer(200).version(), Some("1.0.0"));
        assert_eq!(answer(502).version(), None);
        assert!(!answer(502).is_success());
    }
}
