//! Builds the reference BLS plug-in (`offload/plugins/blst`, C over blst's C sources, which the
//! `blst` crate exposes to direct dependents as `DEP_BLST_C_SRC`) and the misbehaving test
//! fixtures (`tests/plugins/misbehaving.c`) as shared objects in `OUT_DIR`.

use std::env;
use std::path::{Path, PathBuf};

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let include = manifest.join("../offload/include");
    let c_src = PathBuf::from(env::var("DEP_BLST_C_SRC").expect("blst exports its C sources"));
    let bindings = PathBuf::from(env::var("DEP_BLST_BINDINGS").expect("blst exports its headers"));
    let asm = c_src
        .parent()
        .expect("blst/src has a parent")
        .join("build/assembly.S");
    let plugin = manifest.join("../offload/plugins/blst/keel_offload_blst.c");
    let fixture = manifest.join("tests/plugins/misbehaving.c");
    for f in [&plugin, &fixture, &include.join("keel_offload.h")] {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    let blst = out.join("libkeel_offload_blst.so");
    shared_object(
        &[&plugin, &c_src.join("server.c"), &asm],
        &[&include, &bindings],
        None,
        &blst,
    );
    for (name, define) in [
        ("lie", "KEEL_LIE"),
        ("crash", "KEEL_CRASH"),
        ("hang", "KEEL_HANG"),
        ("escape", "KEEL_ESCAPE"),
    ] {
        let so = out.join(format!("libkeel_offload_{name}.so"));
        shared_object(&[&fixture], &[&include], Some(define), &so);
    }
    println!(
        "cargo:rustc-env=KEEL_OFFLOAD_BLST_PLUGIN={}",
        blst.display()
    );
    println!("cargo:rustc-env=KEEL_OFFLOAD_FIXTURES={}", out.display());
}

fn shared_object(sources: &[&Path], includes: &[&Path], define: Option<&str>, out: &Path) {
    let compiler = cc::Build::new().opt_level(2).get_compiler();
    let mut cmd = compiler.to_command();
    cmd.args([
        "-shared",
        "-fPIC",
        "-O2",
        "-fno-builtin",
        "-Wno-unused-function",
    ]);
    // Bind the plug-in's own blst symbols to themselves, never to a host's copy.
    cmd.arg("-Wl,-Bsymbolic");
    for i in includes {
        cmd.arg("-I").arg(i);
    }
    if let Some(d) = define {
        cmd.arg(format!("-D{d}"));
    }
    cmd.args(sources).arg("-o").arg(out);
    let status = cmd.status().expect("the C compiler runs");
    assert!(status.success(), "building {} failed", out.display());
}
