//! The JSON Schema of scenario files, generated from the same types serde reads, so
//! editors can complete and check scenarios (TOML editors such as Taplo accept JSON
//! Schema) and the schema can never drift from the parser.

use schemars::generate::SchemaSettings;

use super::format::Scenario;

/// The JSON Schema (draft 2020-12) of a scenario file.
pub fn json_schema() -> serde_json::Value {
    SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<Scenario>()
        .to_value()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::format::{Action, FAULT_KINDS};

    #[test]
    fn every_step_branch_is_one_action_plus_the_common_keys() {
        let schema = json_schema();
        let branches = schema["$defs"]["Step"]["oneOf"].as_array().unwrap();
        let actions: Vec<&str> = branches
            .iter()
            .map(|branch| branch["required"][0].as_str().unwrap())
            .collect();
        assert_eq!(actions, Action::KEYS);
        for branch in branches {
            for key in ["note", "expect_status", "expect_error", "expect_body"] {
                assert!(branch["properties"].get(key).is_some(), "{key} in {branch}");
            }
            assert_eq!(branch["additionalProperties"], false);
        }
    }

    #[test]
    fn schema_mentions_every_top_level_key_and_fault_kind() {
        let schema = json_schema();
        let text = schema.to_string();
        for key in [
            "name",
            "description",
            "seed",
            "tls",
            "timeout_ms",
            "retries",
            "accounts",
            "steps",
        ] {
            assert!(schema["properties"].get(key).is_some(), "{key}");
        }
        assert_eq!(schema["required"], serde_json::json!(["name", "accounts"]));
        for kind in FAULT_KINDS {
            assert!(text.contains(&format!("\"{kind}\"")), "{kind}");
        }
        assert!(text.contains("^[a-z0-9-]{1,63}$"));
    }
}
