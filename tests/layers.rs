//! The module graph points down: each top-level module of `src/` imports only modules listed
//! before it in [`LAYERS`], so there is no cycle and no upward import; the JSON API and the
//! pages do not import each other; and the web layer never talks to the inventory actors
//! itself (it calls `sale`). Read from the source text, so a new import that breaks a rule
//! fails here with the file and the line.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The top-level modules, lowest first: a module may import only modules before it.
const LAYERS: &[&str] = &[
    "clock",
    "domain",
    "shutdown",
    "telemetry",
    "store",
    "room",
    "inventory",
    "edge",
    "mail",
    "config",
    "sale",
    "web",
    "startup",
];

/// Imports forbidden although they point down: (importing module path, imported path).
const FORBIDDEN: &[(&str, &str, &str)] = &[
    (
        "web",
        "inventory",
        "the web layer reaches actors only through `sale`",
    ),
    (
        "web::pages",
        "web::api",
        "pages call `sale`, not the API's handlers",
    ),
    ("web::api", "web::pages", "the API does not render pages"),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file under `src/` (`src/web/api/mod.rs` → `["web", "api"]`).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// Every path the code names from `crate::`, `super::` or `self::`, resolved to a module path,
/// with its line number. Comments are skipped; `use a::{b, c}` groups are expanded one level.
fn imports(module: &[String], text: &str) -> Vec<(usize, Vec<String>)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut from = 0;
        while let Some((i, prefix)) = ["crate::", "super::", "self::"]
            .iter()
            .filter_map(|p| code[from..].find(p).map(|i| (from + i, *p)))
            .min()
        {
            // A path starts at a word boundary (`super::super::x` is one path).
            let before = code[..i].chars().last();
            let tail = &code[i..];
            from = i + prefix.len();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let mut base: Vec<String> = match prefix {
                "crate::" => Vec::new(),
                // `super` of a file's module is its parent (a `tests` module inside a file
                // resolves one level too high, which stays inside the same top module or
                // names nothing in LAYERS).
                "super::" => module[..module.len().saturating_sub(1)].to_vec(),
                _ => module.to_vec(),
            };
            let mut path = tail[prefix.len()..].to_string();
            while let Some(more) = path.strip_prefix("super::") {
                base.pop();
                path = more.to_string();
            }
            let segments: Vec<String> = if let Some(group) = path.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                inner
                    .split(',')
                    .map(|s| s.trim().split("::").take(2).collect::<Vec<_>>().join("::"))
                    .filter(|s| !s.is_empty() && s != "self")
                    .collect()
            } else {
                let ident: String = path.split("::").take(2).collect::<Vec<_>>().join("::");
                vec![ident]
            };
            for segment in segments {
                let mut full = base.clone();
                full.extend(
                    segment
                        .split("::")
                        .map(|s| {
                            s.chars()
                                .take_while(|c| c.is_alphanumeric() || *c == '_')
                                .collect::<String>()
                        })
                        .filter(|s| !s.is_empty()),
                );
                found.push((n + 1, full));
            }
        }
    }
    found
}

fn starts_with(path: &[String], prefix: &str) -> bool {
    let prefix: Vec<&str> = prefix.split("::").collect();
    path.len() >= prefix.len() && path.iter().zip(&prefix).all(|(a, b)| a == b)
}

#[test]
fn modules_import_only_what_lies_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut broken = BTreeSet::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy();
        if file.parent() == Some(src.as_path()) && (name == "lib.rs" || name == "main.rs") {
            continue;
        }
        let module = module_of(&src, file);
        let own = module[0].clone();
        let Some(own_layer) = LAYERS.iter().position(|l| *l == own) else {
            broken.insert(format!("{}: module {own} is not in LAYERS", file.display()));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for (line, path) in imports(&module, &text) {
            let Some(top) = path.first() else { continue };
            if *top == own {
                for (from, to, why) in FORBIDDEN {
                    if starts_with(&module, from) && starts_with(&path, to) {
                        broken.insert(format!(
                            "{}:{line}: {} imports {}: {why}",
                            file.display(),
                            module.join("::"),
                            path.join("::")
                        ));
                    }
                }
                continue;
            }
            let Some(layer) = LAYERS.iter().position(|l| l == top) else {
                continue; // a name of the module itself (`self::Foo`), not a module
            };
            if layer > own_layer {
                broken.insert(format!(
                    "{}:{line}: {own} imports {top}, which lies above it",
                    file.display()
                ));
            }
            for (from, to, why) in FORBIDDEN {
                if starts_with(&module, from) && starts_with(&path, to) {
                    broken.insert(format!("{}:{line}: {why}", file.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "imports against the layers:\n{}", {
        let lines: Vec<String> = broken.into_iter().collect();
        lines.join("\n")
    });
}

#[test]
fn the_web_layer_never_asks_an_actor() {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web");
    let mut files = Vec::new();
    rust_files(&web, &mut files);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            assert!(
                !code.contains(".ask(") && !code.contains("Registry"),
                "{}:{}: the web layer calls `sale`, not the actors: {line}",
                file.display(),
                n + 1
            );
        }
    }
}

#[test]
fn the_checker_sees_an_upward_import() {
    let module = vec!["store".to_string(), "postgres".to_string()];
    let found = imports(
        &module,
        "use crate::room::{Marks, Opening};\nuse super::StoreError;\n",
    );
    assert_eq!(found[0].1[0], "room");
    assert_eq!(found[1].1, ["store", "StoreError"]);
    let grouped = imports(
        &["web".to_string(), "pages".to_string(), "fan".to_string()],
        "use super::super::api::queue::set_cookies;\nuse crate::{sale, web::error};\n",
    );
    assert_eq!(grouped[0].1, ["web", "api", "queue"]);
    assert_eq!(grouped[1].1, ["sale"]);
    assert_eq!(grouped[2].1, ["web", "error"]);
}
