//! A scenario's marks, written by the benchmark script as one tab-separated line:
//! `label  from  to  start_ms  deploy_start_ms  deploy_end_ms  end_ms  [note]`
//! (times in Unix epoch ms; `from`/`to` are the versions before and after).

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    pub label: String,
    pub from: String,
    pub to: String,
    pub start_ms: u64,
    pub deploy_start_ms: u64,
    pub deploy_end_ms: u64,
    pub end_ms: u64,
    pub note: String,
}

impl Scenario {
    pub fn parse(line: &str) -> Result<Scenario, String> {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 7 {
            return Err(format!("a mark needs 7 tab-separated fields: {line:?}"));
        }
        let ms = |i: usize| {
            f[i].trim()
                .parse::<u64>()
                .map_err(|_| format!("field {} of {line:?} is not a time in ms", i + 1))
        };
        let s = Scenario {
            label: f[0].to_string(),
            from: f[1].to_string(),
            to: f[2].to_string(),
            start_ms: ms(3)?,
            deploy_start_ms: ms(4)?,
            deploy_end_ms: ms(5)?,
            end_ms: ms(6)?,
            note: f.get(7).map(|n| n.trim().to_string()).unwrap_or_default(),
        };
        if !(s.start_ms <= s.deploy_start_ms
            && s.deploy_start_ms <= s.deploy_end_ms
            && s.deploy_end_ms <= s.end_ms)
        {
            return Err(format!("times out of order in {line:?}"));
        }
        Ok(s)
    }

    pub fn contains(&self, due_ms: u64) -> bool {
        (self.start_ms..self.end_ms).contains(&due_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_mark_and_refuses_a_bad_one() {
        let s = Scenario::parse("shipctl blue-green\t1.0.0\t1.1.0\t10\t20\t30\t40\tnote")
            .expect("mark");
        assert_eq!((s.start_ms, s.end_ms, s.note.as_str()), (10, 40, "note"));
        assert!(s.contains(10) && s.contains(39) && !s.contains(40));
        assert!(Scenario::parse("x\t1\t2\t10\t5\t30\t40").is_err());
        assert!(Scenario::parse("x\t1\t2\t10").is_err());
    }
}
