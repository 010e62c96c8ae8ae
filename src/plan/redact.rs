//! Plans shown or saved carry no secret values. Every environment value is replaced by a salted
//! SHA-256 fingerprint (`redacted:sha256:...`); applying a saved plan reads the values again from
//! the compose files and uses them only where their fingerprints match, so the plan still
//! applies exactly what was reviewed, without storing what it must not.

use indexmap::IndexMap;
use sha2::{Digest, Sha256};

use super::Plan;

const PREFIX: &str = "redacted:sha256:";

/// A salt of its own for each plan shown or saved, so equal values in two plans do not match.
pub fn fresh_salt() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut hasher = Sha256::new();
    hasher.update(nanos.to_le_bytes());
    hasher.update(std::process::id().to_le_bytes());
    hex(&hasher.finalize()[..16])
}

fn hex(bytes: &[u8]) -> String {
    // By hand: a `format!` per byte took most of the 2 ms that redacting 1,000 services took.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

fn fingerprint(salt: &str, name: &str, value: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update([0]);
    hasher.update(name.as_bytes());
    hasher.update([0]);
    hasher.update(value.as_bytes());
    format!("{PREFIX}{}", hex(&hasher.finalize()))
}

impl Plan {
    /// This plan with every environment value replaced by its fingerprint under `salt` (or
    /// under the salt it already has, when it was redacted before: shown and saved alike).
    pub fn redacted(&self, salt: &str) -> Plan {
        self.clone().into_redacted(salt)
    }

    /// [`Plan::redacted`] without a copy, for a plan that is only shown or saved.
    pub fn into_redacted(self, salt: &str) -> Plan {
        let mut plan = self;
        let salt = plan
            .fingerprint_salt
            .get_or_insert_with(|| salt.to_string())
            .clone();
        let salt = salt.as_str();
        for service in &mut plan.services {
            for (name, value) in service.definition.environment.iter_mut() {
                if let Some(v) = value.as_mut()
                    && !v.starts_with(PREFIX)
                {
                    *v = fingerprint(salt, name, v);
                }
            }
        }
        plan
    }

    /// True when no environment value is left in the clear.
    pub fn is_redacted(&self) -> bool {
        self.services.iter().all(|s| {
            s.definition
                .environment
                .values()
                .all(|v| v.as_deref().is_none_or(|v| v.starts_with(PREFIX)))
        })
    }

    /// True when some value was redacted and must be read again before applying.
    pub fn needs_values(&self) -> bool {
        self.services.iter().any(|s| {
            s.definition
                .environment
                .values()
                .any(|v| v.as_deref().is_some_and(|v| v.starts_with(PREFIX)))
        })
    }

    /// Puts back the values of `current` (per service, as the compose files give them now)
    /// where they match their fingerprints. Names the first variable that is missing or
    /// changed since the plan was made.
    pub fn restore_values(
        &mut self,
        current: &IndexMap<String, IndexMap<String, Option<String>>>,
    ) -> Result<(), String> {
        let salt = self.fingerprint_salt.clone().unwrap_or_default();
        for service in &mut self.services {
            let now = current.get(&service.service);
            for (name, value) in service.definition.environment.iter_mut() {
                let Some(saved) = value.as_ref().filter(|v| v.starts_with(PREFIX)) else {
                    continue;
                };
                let fresh = now
                    .and_then(|env| env.get(name))
                    .and_then(|v| v.as_ref())
                    .filter(|v| fingerprint(&salt, name, v) == *saved);
                match fresh {
                    Some(v) => *value = Some(v.clone()),
                    None => {
                        return Err(format!(
                            "`{name}` of `{}` is not what it was when the plan was made",
                            service.service
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ServicePlan;

    fn plan_with(env: &[(&str, &str)]) -> Plan {
        let mut service: ServicePlan = serde_json::from_value(serde_json::json!({
            "service": "web",
            "strategy": "blue-green",
            "from": null,
            "to": {"zone": "blue", "version": "1.0.0"},
            "keys": crate::spec::model::KeyTemplates::default().for_service("demo", "web"),
            "policy": crate::spec::model::Policy::default(),
            "definition": {"name": "web", "image": "app:1.0.0"},
            "steps": [],
            "warnings": [],
            "up_to_date": false
        }))
        .expect("a service plan");
        for (k, v) in env {
            service
                .definition
                .environment
                .insert((*k).into(), Some((*v).into()));
        }
        Plan {
            project: "demo".into(),
            services: vec![service],
            needs: IndexMap::new(),
            networks: IndexMap::new(),
            secrets: IndexMap::new(),
            configs: IndexMap::new(),
            observed: Default::default(),
            warnings: Vec::new(),
            fingerprint_salt: None,
        }
    }

    fn env(pairs: &[(&str, &str)]) -> IndexMap<String, IndexMap<String, Option<String>>> {
        IndexMap::from([(
            "web".to_string(),
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), Some((*v).to_string())))
                .collect(),
        )])
    }

    #[test]
    fn values_become_fingerprints_and_come_back_only_unchanged() {
        let plan = plan_with(&[("DB_PASSWORD", "hunter2")]);
        let shown = plan.redacted("salt");
        let text = serde_json::to_string(&shown).expect("json");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(
            text.contains("DB_PASSWORD") && text.contains(PREFIX),
            "{text}"
        );
        assert!(shown.needs_values());

        let mut back = shown.clone();
        back.restore_values(&env(&[("DB_PASSWORD", "hunter2")]))
            .expect("the same value");
        assert_eq!(
            back.services[0].definition.environment["DB_PASSWORD"].as_deref(),
            Some("hunter2")
        );

        let mut changed = shown;
        let err = changed
            .restore_values(&env(&[("DB_PASSWORD", "hunter3")]))
            .unwrap_err();
        assert!(err.contains("DB_PASSWORD"), "{err}");
        // Another salt gives other fingerprints: equal secrets of two plans do not match.
        assert_ne!(fingerprint("a", "K", "v"), fingerprint("b", "K", "v"));
    }

    #[test]
    fn hex_is_two_lowercase_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff, 0x10]), "000fa5ff10");
        assert_eq!(hex(&[]), "");
    }
}
