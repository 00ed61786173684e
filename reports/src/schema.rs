//! The JSON Schema of `summary.json` (draft 2020-12, `reports/schema/summary.schema.json`) and a
//! validator for the subset of JSON Schema it uses: `type` (a name or an array of names, which is
//! how nullable values are written), `enum`, `const`, `minimum`, `maximum`, `required`,
//! `properties`, `additionalProperties` (boolean or schema), `items`, and `$ref` to `#/$defs/...`.
//! Keywords outside that subset are refused, so the schema file cannot silently grow beyond
//! what is checked. Annotations (`title`, `description`, `$schema`, `$id`, `$defs`) are ignored.

use serde_json::{Map, Value};

use crate::Error;

/// The schema file's text, compiled in.
pub const SUMMARY_SCHEMA: &str = include_str!("../schema/summary.schema.json");

/// Keywords this validator understands.
const CHECKED: &[&str] = &[
    "type", "enum", "const", "minimum", "maximum", "required", "properties",
    "additionalProperties", "items", "$ref",
];
/// Keywords that carry no constraint.
const ANNOTATIONS: &[&str] = &["$schema", "$id", "$defs", "title", "description"];

/// The summary schema as a JSON value.
pub fn summary_schema() -> Value {
    serde_json::from_str(SUMMARY_SCHEMA).expect("the compiled-in summary schema is valid JSON")
}

/// Validates a JSON document against the summary schema.
pub fn validate_summary(instance: &Value) -> Result<(), Error> {
    validate(instance, &summary_schema())
        .map_err(|problems| Error::SchemaViolation { what: "summary".into(), problems })
}

/// Validates `instance` against `schema` (whose `$defs` resolve `$ref`s); returns every problem
/// found, each prefixed with the JSON pointer of the offending value.
pub fn validate(instance: &Value, schema: &Value) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    check(instance, schema, schema, "", &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn check(v: &Value, s: &Value, root: &Value, at: &str, out: &mut Vec<String>) {
    let here = if at.is_empty() { "/" } else { at };
    let obj = match s {
        Value::Bool(true) => return,
        Value::Bool(false) => {
            out.push(format!("{here}: no value is allowed here"));
            return;
        }
        Value::Object(o) => o,
        other => {
            out.push(format!("{here}: schema is not an object or boolean: {other}"));
            return;
        }
    };
    for key in obj.keys() {
        if !CHECKED.contains(&key.as_str()) && !ANNOTATIONS.contains(&key.as_str()) {
            out.push(format!("{here}: schema keyword `{key}` is not supported by this validator"));
        }
    }
    if let Some(r) = obj.get("$ref") {
        match r.as_str().and_then(|r| resolve(root, r)) {
            Some(target) => check(v, target, root, at, out),
            None => out.push(format!("{here}: unresolvable $ref {r}")),
        }
    }
    if let Some(t) = obj.get("type") {
        let names: Vec<&str> = match t {
            Value::String(n) => vec![n.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !names.iter().any(|n| has_type(v, n)) {
            out.push(format!("{here}: expected {}, found {}", names.join(" or "), type_name(v)));
            return;
        }
    }
    if let Some(Value::Array(allowed)) = obj.get("enum") {
        if !allowed.contains(v) {
            out.push(format!("{here}: {v} is not one of {}", Value::Array(allowed.clone())));
        }
    }
    if let Some(c) = obj.get("const") {
        if c != v {
            out.push(format!("{here}: {v} is not {c}"));
        }
    }
    if let Some(x) = v.as_f64() {
        if let Some(min) = obj.get("minimum").and_then(Value::as_f64) {
            if x < min {
                out.push(format!("{here}: {x} is below the minimum {min}"));
            }
        }
        if let Some(max) = obj.get("maximum").and_then(Value::as_f64) {
            if x > max {
                out.push(format!("{here}: {x} is above the maximum {max}"));
            }
        }
    }
    if let Value::Object(map) = v {
        check_object(map, obj, root, at, out);
    }
    if let (Value::Array(items), Some(item_schema)) = (v, obj.get("items")) {
        for (i, item) in items.iter().enumerate() {
            check(item, item_schema, root, &format!("{at}/{i}"), out);
        }
    }
}

fn check_object(map: &Map<String, Value>, obj: &Map<String, Value>, root: &Value, at: &str, out: &mut Vec<String>) {
    let here = if at.is_empty() { "/" } else { at };
    if let Some(Value::Array(required)) = obj.get("required") {
        for key in required.iter().filter_map(Value::as_str) {
            if !map.contains_key(key) {
                out.push(format!("{here}: missing required key `{key}`"));
            }
        }
    }
    let props = obj.get("properties").and_then(Value::as_object);
    for (key, value) in map {
        let path = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
        match props.and_then(|p| p.get(key)) {
            Some(ps) => check(value, ps, root, &path, out),
            None => match obj.get("additionalProperties") {
                Some(Value::Bool(false)) => out.push(format!("{here}: unknown key `{key}`")),
                Some(extra) => check(value, extra, root, &path, out),
                None => {}
            },
        }
    }
}

fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    root.pointer(pointer)
}

fn has_type(v: &Value, name: &str) -> bool {
    match name {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        // 2020-12: a number with zero fractional part is an integer
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|x| x.fract() == 0.0),
        _ => false,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
