//! The module map in `src/lib.rs` is a layering, and this keeps it true:
//! no import cycle between the top-level modules of `src/`, and only
//! `runtime` and `main` read the configuration (`config`); every other module
//! owns its settings type. It reads the source as text: an edge is any
//! `crate::<module>` path outside comments and test code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module → the top-level modules it names.
type Graph = BTreeMap<String, BTreeSet<String>>;

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && path.file_name().is_some_and(|n| n != "tests") {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") && path.file_name().is_some_and(|n| n != "tests.rs") {
            out.push(path);
        }
    }
}

/// `src/proxy/forward.rs` → `proxy`; `src/lib.rs` → `lib`.
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap_or(file);
    let first = relative.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned());
    first.unwrap_or_default().trim_end_matches(".rs").to_string()
}

/// The code of a file without comments and without its test module (an
/// item-level `#[cfg(test)]` elsewhere in the file does not end the scan).
fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    let test_module = |l: &str| matches!(l.trim(), "mod tests;" | "mod tests {");
    text.lines().take_while(move |l| !test_module(l)).filter(|l| !l.trim_start().starts_with("//"))
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut graph = Graph::new();
    for file in &files {
        let from = module_of(&src, file);
        let text = std::fs::read_to_string(file).expect("readable source");
        let top_level = file.parent() == Some(src.as_path());
        for line in code_lines(&text) {
            let mut names: Vec<&str> = line.split("crate::").skip(1).collect();
            if top_level {
                names.extend(line.split("super::").skip(1));
            }
            for rest in names {
                let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if name != from && modules.contains(&name) {
                    graph.entry(from.clone()).or_default().insert(name);
                }
            }
        }
        graph.entry(from).or_default();
    }
    graph
}

/// A cycle through `start`, if any (depth-first, in name order).
fn cycle_from(graph: &Graph, start: &str) -> Option<Vec<String>> {
    fn visit(graph: &Graph, node: &str, start: &str, path: &mut Vec<String>, seen: &mut BTreeSet<String>) -> bool {
        for next in graph.get(node).into_iter().flatten() {
            if next == start {
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if visit(graph, next, start, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_string()];
    visit(graph, start, start, &mut path, &mut BTreeSet::new()).then(|| {
        path.push(start.to_string());
        path
    })
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let graph = graph();
    assert!(graph.len() > 10, "the source tree was not found: {graph:?}");
    let cycles: Vec<String> = graph.keys().filter_map(|m| cycle_from(&graph, m)).map(|c| c.join(" -> ")).collect();
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn only_runtime_and_main_read_the_configuration() {
    let graph = graph();
    let readers: Vec<&String> = graph
        .iter()
        .filter(|(m, deps)| deps.contains("config") && !["runtime", "main"].contains(&m.as_str()))
        .map(|(m, _)| m)
        .collect();
    assert!(readers.is_empty(), "modules importing config: {readers:?}");
}

#[test]
fn the_check_sees_a_cycle_when_there_is_one() {
    let mut graph = Graph::new();
    graph.entry("a".into()).or_default().insert("b".into());
    graph.entry("b".into()).or_default().insert("c".into());
    graph.entry("c".into()).or_default().insert("a".into());
    assert_eq!(cycle_from(&graph, "a").map(|c| c.join(" -> ")).as_deref(), Some("a -> b -> c -> a"));
    graph.entry("c".into()).or_default().clear();
    assert!(cycle_from(&graph, "a").is_none());
}
