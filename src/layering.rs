//! The structure, checked from the source: each top-level module imports only modules of its
//! own layer or below, only `app` (and the binary) uses egui or eframe, and no modules that
//! share a parent import each other in a circle, at any depth (`a` → `b` → `a` among the
//! children of one module, the binary's `cli` included).

use std::collections::{BTreeMap, BTreeSet};

/// Top-level modules, lowest layer first.
const LAYERS: [&[&str]; 8] = [
    &[
        "error", "files", "picked", "ranges", "matrix", "colormap", "fonts",
    ],
    &["model"],
    &["backend"],
    &["analysis", "insight", "params", "corpus"],
    &["figures"],
    &["views"],
    &["export", "render", "bench"],
    &["app"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn sources(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            out.push((p.display().to_string(), text));
        }
    }
}

/// Every source file below src/: its path relative to src/ and its text.
fn files() -> (String, Vec<(String, String)>) {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    assert!(files.len() > 40, "the sources were not found");
    let root = src.display().to_string();
    let files = files
        .into_iter()
        .map(|(p, t)| {
            (
                p.trim_start_matches(&root)
                    .trim_start_matches('/')
                    .to_string(),
                t,
            )
        })
        .collect();
    (root, files)
}

/// The code without line comments and without the unit tests at the end of a file.
fn code_of(text: &str) -> String {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    match code.find("#[cfg(test)]\nmod ") {
        Some(i) => code[..i].to_string(),
        None => code,
    }
}

#[test]
fn modules_import_only_their_own_layer_or_below_and_only_the_app_uses_egui() {
    let (_, files) = files();
    let mut wrong = Vec::new();
    for (rel, text) in &files {
        let top = rel.split('/').next().unwrap_or("").trim_end_matches(".rs");
        // the binary: main.rs and its own modules (cli/)
        if top == "lib" || top == "main" || top == "cli" || top == "layering" {
            continue;
        }
        let Some(mine) = layer_of(top) else {
            wrong.push(format!("{rel}: module {top} has no layer"));
            continue;
        };
        let code: String = text
            .lines()
            .map(|l| l.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        for (i, _) in code.match_indices("crate::") {
            let name: String = code[i + 7..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if let Some(theirs) = layer_of(&name) {
                if theirs > mine {
                    wrong.push(format!("{rel}: {top} imports {name}, a layer above it"));
                }
            }
        }
        let ui = ["egui::", "eframe::", "egui_plot::"];
        if mine < layer_of("app").unwrap_or(0) && ui.iter().any(|u| code.contains(u)) {
            wrong.push(format!("{rel}: {top} uses egui below the app"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// A file's module path: `app/tabs/mod.rs` is app::tabs, `lib.rs` and `main.rs` the root.
fn module_of(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_string)
        .collect();
    if parts
        .last()
        .is_some_and(|p| p == "mod" || p == "lib" || p == "main")
    {
        parts.pop();
    }
    parts
}

/// The paths a file names from `crate::`, `super::` or `self::`, as segments (a `::{a, b}`
/// group gives one path per name).
fn paths_in(code: &str) -> Vec<Vec<String>> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    for start in ["crate::", "super::", "self::"] {
        for (i, _) in code.match_indices(start) {
            // a whole word: not the end of another identifier
            if code[..i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
            {
                continue;
            }
            let mut segs = vec![start.trim_end_matches("::").to_string()];
            let mut rest = &code[i + start.len()..];
            loop {
                if let Some(group) = rest.strip_prefix('{') {
                    let inner = group.split('}').next().unwrap_or("");
                    for name in inner.split(',') {
                        let name = ident(name.trim());
                        if !name.is_empty() {
                            out.push([segs.clone(), vec![name]].concat());
                        }
                    }
                    break;
                }
                let name = ident(rest);
                if name.is_empty() {
                    break;
                }
                rest = &rest[name.len()..];
                segs.push(name);
                match rest.strip_prefix("::") {
                    Some(r) => rest = r,
                    None => break,
                }
            }
            out.push(segs);
        }
    }
    out
}

/// The module `path` (named in the module `from`) points into: its longest prefix that is a
/// module of the sources.
fn resolve(from: &[String], path: &[String], known: &BTreeSet<Vec<String>>) -> Vec<String> {
    let mut cur: Vec<String> = from.to_vec();
    let mut segs = path;
    if segs.first().is_some_and(|s| s == "crate") {
        cur.clear();
        segs = &segs[1..];
    } else {
        while let Some(s) = segs.first() {
            match s.as_str() {
                "super" => {
                    cur.pop();
                }
                "self" => {}
                _ => break,
            }
            segs = &segs[1..];
        }
    }
    let mut best = cur.clone();
    for i in 0..=segs.len() {
        let cand = [cur.clone(), segs[..i].to_vec()].concat();
        if known.contains(&cand) {
            best = cand;
        }
    }
    best
}

#[test]
fn no_modules_of_one_parent_import_each_other_in_a_circle() {
    let (_, files) = files();
    let mods: Vec<(Vec<String>, String)> = files
        .iter()
        .map(|(rel, text)| (module_of(rel), code_of(text)))
        .collect();
    let known: BTreeSet<Vec<String>> = mods.iter().map(|(m, _)| m.clone()).collect();
    // for each parent, the edges between its children
    let mut graphs: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (m, code) in &mods {
        for path in paths_in(code) {
            let to = resolve(m, &path, &known);
            let common = m.iter().zip(&to).take_while(|(a, b)| a == b).count();
            if common < m.len() && common < to.len() {
                let (a, b) = (m[common].clone(), to[common].clone());
                let parent = m[..common].to_vec();
                graphs
                    .entry(parent)
                    .or_default()
                    .entry(a)
                    .or_default()
                    .insert(b);
            }
        }
    }
    let mut circles = Vec::new();
    for (parent, g) in &graphs {
        // a child that reaches itself through its siblings
        for start in g.keys() {
            let mut seen = BTreeSet::new();
            let mut todo: Vec<&String> = g[start].iter().collect();
            while let Some(n) = todo.pop() {
                if seen.insert(n.clone()) {
                    todo.extend(g.get(n).into_iter().flatten());
                }
            }
            if seen.contains(start) {
                let around: Vec<&String> = seen
                    .iter()
                    .filter(|n| {
                        g.get(*n).is_some_and(|_| {
                            // in the circle: reaches back to start
                            let mut s2 = BTreeSet::new();
                            let mut t2: Vec<&String> = g[*n].iter().collect();
                            while let Some(x) = t2.pop() {
                                if s2.insert(x.clone()) {
                                    t2.extend(g.get(x).into_iter().flatten());
                                }
                            }
                            s2.contains(start)
                        })
                    })
                    .collect();
                circles.push(format!("{}: {start} <-> {around:?}", parent.join("::")));
            }
        }
    }
    assert!(circles.is_empty(), "import circles: {circles:#?}");
}
