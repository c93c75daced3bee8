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
    use crate::drivers::scenario::format::{Action, FAULT_KINDS};
    use serde_json::Value;
    use std::path::Path;

    /// A small validator for the subset of JSON Schema that `json_schema` emits (`$ref`
    /// into `$defs`, `oneOf`, `anyOf`, `const`, `enum`, `type`, bounds, object and array
    /// keywords, `minItems`); `pattern` and `format` are not checked.
    fn conforms(schema: &Value, value: &Value, root: &Value) -> bool {
        let Some(schema) = schema.as_object() else {
            return schema.as_bool().unwrap_or(false);
        };
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let name = reference.trim_start_matches("#/$defs/");
            return conforms(&root["$defs"][name], value, root);
        }
        if let Some(branches) = schema.get("oneOf").and_then(Value::as_array) {
            let matching = branches.iter().filter(|b| conforms(b, value, root)).count();
            if matching != 1 {
                return false;
            }
        }
        if let Some(branches) = schema.get("anyOf").and_then(Value::as_array)
            && !branches.iter().any(|b| conforms(b, value, root))
        {
            return false;
        }
        if schema.get("const").is_some_and(|c| c != value)
            || schema
                .get("enum")
                .and_then(Value::as_array)
                .is_some_and(|e| !e.contains(value))
        {
            return false;
        }
        if let Some(types) = schema.get("type") {
            let names: Vec<&str> = match types {
                Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
                other => other.as_str().into_iter().collect(),
            };
            let is = |name: &str| match name {
                "object" => value.is_object(),
                "array" => value.is_array(),
                "string" => value.is_string(),
                "integer" => value.is_i64() || value.is_u64(),
                "number" => value.is_number(),
                "boolean" => value.is_boolean(),
                "null" => value.is_null(),
                _ => false,
            };
            if !names.into_iter().any(is) {
                return false;
            }
        }
        if let Some(number) = value.as_f64() {
            let below = schema
                .get("minimum")
                .and_then(Value::as_f64)
                .is_some_and(|m| number < m);
            let above = schema
                .get("maximum")
                .and_then(Value::as_f64)
                .is_some_and(|m| number > m);
            if below || above {
                return false;
            }
        }
        if let (Some(items), Some(min)) = (
            value.as_array(),
            schema.get("minItems").and_then(Value::as_u64),
        ) && (items.len() as u64) < min
        {
            return false;
        }
        if let (Some(items), Some(item)) = (value.as_array(), schema.get("items"))
            && !items.iter().all(|v| conforms(item, v, root))
        {
            return false;
        }
        if let Some(object) = value.as_object() {
            let properties = schema.get("properties").and_then(Value::as_object);
            for (key, field) in object {
                let ok = match properties.and_then(|p| p.get(key)) {
                    Some(property) => conforms(property, field, root),
                    None => schema
                        .get("additionalProperties")
                        .is_none_or(|extra| conforms(extra, field, root)),
                };
                if !ok {
                    return false;
                }
            }
            let required = schema.get("required").and_then(Value::as_array);
            if required.is_some_and(|r| {
                r.iter()
                    .any(|k| !object.contains_key(k.as_str().unwrap_or("")))
            }) {
                return false;
            }
            let min = schema
                .get("minProperties")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            if (object.len() as u64) < min {
                return false;
            }
        }
        true
    }

    fn toml_as_json(source: &str) -> Value {
        toml::from_str(source).unwrap()
    }

    #[test]
    fn every_valid_file_conforms_to_the_schema() {
        let schema = json_schema();
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/valid");
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            let source = std::fs::read_to_string(&path).unwrap();
            assert!(
                conforms(&schema, &toml_as_json(&source), &schema),
                "{}",
                path.display()
            );
        }
    }

    #[test]
    fn the_schema_refuses_what_the_parser_refuses() {
        let schema = json_schema();
        let header = "name = \"x\"\n[accounts.acme]\n[accounts.globex]\n[[steps]]\n";
        for step in [
            "note = \"no action\"",
            "stop = { account = \"acme\" }\nstart = { account = \"acme\" }",
            "fault = { account = \"acme\", down = true, hang = true }",
            "fault = { account = \"acme\", status = 302 }",
            "respond = { account = \"acme\", agreement = \"a\", status = \"approved\" }",
            "expect = { account = \"acme\", agreement = \"a\", count = 1 }",
            "invite = { from = \"acme\", to = \"globex\", as = \"a\", colour = 1 }",
            "concurrently = [{ stop = { account = \"acme\" } }]",
            "concurrently = [{ stop = { account = \"acme\" } }, { hold = { from = \"acme\" } }]",
            "release = { from = \"acme\", to = \"globex\", order = \"lifo\" }",
            "release = { from = \"acme\", to = \"globex\", message = 0 }",
            "lose_reply = { from = \"acme\", to = \"globex\", times = 2 }",
            "expect = { in_flight = { from = \"acme\", to = \"globex\" } }",
            "expect = { agreement = \"a\", status = [] }",
            "expect = { agreement = \"a\", converged = \"yes\" }",
        ] {
            let value = toml_as_json(&format!("{header}{step}\n"));
            assert!(!conforms(&schema, &value, &schema), "{step}");
        }
    }

    #[test]
    fn the_schema_takes_every_race_step_as_the_issue_writes_it() {
        let schema = json_schema();
        let header = "name = \"x\"\nseeds = 64\n[accounts.acme]\n[accounts.globex]\n[[steps]]\n";
        for step in [
            "concurrently = [\n  { respond = { account = \"globex\", agreement = \"esc\", status = \"accepted\" } },\n  { deactivate = { account = \"acme\", agreement = \"esc\" } },\n]",
            "hold = { from = \"globex\", to = \"acme\" }",
            "release = { from = \"globex\", to = \"acme\", order = \"reverse\" }",
            "release = { from = \"globex\", to = \"acme\", order = \"seeded\" }",
            "release = { from = \"globex\", to = \"acme\" }",
            "release = { from = \"globex\", to = \"acme\", message = 2 }",
            "duplicate = { from = \"acme\", to = \"globex\" }",
            "lose_reply = { from = \"acme\", to = \"globex\" }",
            "expect = { agreement = \"esc\", status = [\"accepted\", \"inactive\"], converged = true }",
            "expect = { in_flight = { from = \"globex\", to = \"acme\", count = 1 } }",
        ] {
            let value = toml_as_json(&format!("{header}{step}\n"));
            assert!(conforms(&schema, &value, &schema), "{step}");
        }
    }

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
            "seeds",
            "tls",
            "timeout_ms",
            "retries",
            "accounts",
            "steps",
            "signature",
            "orders",
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
