//! Compiles the kernel fast path's BPF programs (bpf/fastpath.bpf.c) with clang.
//! Without clang the build still succeeds, with an empty object: switchd then runs
//! every frame in user space and says so (`switch show`).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "bpf/fastpath.bpf.c";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-env-changed=CLANG");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("fastpath.bpf.o");
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".into());
    let arch_include = format!("-I/usr/include/{}-linux-gnu", std::env::consts::ARCH);
    let built = Command::new(&clang)
        .args([
            "-O2",
            "-g",
            "-Wall",
            "-Werror",
            "-target",
            "bpf",
            &arch_include,
            "-c",
            src,
            "-o",
        ])
        .arg(&out)
        .status();
    match built {
        Ok(s) if s.success() => {}
        Ok(s) => {
            println!("cargo:warning=building {src} failed ({s}): switchd has no kernel fast path");
            write_empty(&out);
        }
        Err(e) => {
            println!("cargo:warning={clang} not found ({e}): switchd has no kernel fast path");
            write_empty(&out);
        }
    }
}

fn write_empty(out: &PathBuf) {
    if let Err(e) = std::fs::write(out, b"") {
        println!("cargo:warning=writing {}: {e}", out.display());
    }
}
