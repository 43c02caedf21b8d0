//! Embeds every lesson (lessons/NN-*.md) in the binary, so `glassbox lesson` works anywhere.

use std::fmt::Write;

fn main() {
    println!("cargo:rerun-if-changed=lessons");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("lessons");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| {
                    n.ends_with(".md") && n.as_bytes().first().is_some_and(u8::is_ascii_digit)
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut out = String::from(
        "/// Every lesson file: (file name, text).\npub const LESSON_FILES: &[(&str, &str)] = &[\n",
    );
    for n in &names {
        println!("cargo:rerun-if-changed=lessons/{n}");
        writeln!(
            out,
            "    ({n:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/lessons/{n}\"))),"
        )
        .unwrap();
    }
    out.push_str("];\n");
    let dest = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("lessons.rs");
    std::fs::write(dest, out).unwrap();
}
