//! The `vm aot` and `vm run --engine aot` command lines: building an image,
//! running from it, and what a damaged image does under each policy.

use std::path::PathBuf;
use std::process::Command;

fn elf(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("guest/bin/{name}.elf"))
}

fn vm() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vm"))
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vm-aot-cli-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn aot_build_then_run_from_the_image() {
    let dir = scratch("run");
    let img = dir.join("fib.vmimg");
    let out = vm()
        .arg("aot")
        .arg(elf("fib"))
        .arg("-o")
        .arg(&img)
        .arg("--stats")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("blocks"));
    let out = vm()
        .args(["run", "--engine", "aot", "--stats", "--image"])
        .arg(&img)
        .arg(elf("fib"))
        .arg("20")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "fib(20)=6765\n",
        "{err}"
    );
    assert!(
        err.contains("aot image") && err.contains("prelinked"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn damaged_image_stops_or_falls_back_to_the_jit() {
    let dir = scratch("damaged");
    let img = dir.join("fib.vmimg");
    let st = vm()
        .arg("aot")
        .arg(elf("fib"))
        .arg("-o")
        .arg(&img)
        .status()
        .unwrap();
    assert!(st.success());
    let mut bytes = std::fs::read(&img).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    std::fs::write(&img, &bytes).unwrap();

    let out = vm()
        .args([
            "run",
            "--engine",
            "aot",
            "--on-bad-image",
            "stop",
            "--image",
        ])
        .arg(&img)
        .arg(elf("fib"))
        .arg("20")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(out.stdout.is_empty());
    assert!(
        err.contains("fib.vmimg") && err.contains("checksum"),
        "{err}"
    );

    let out = vm()
        .args(["run", "--engine", "aot", "--image"])
        .arg(&img)
        .arg(elf("fib"))
        .arg("20")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "fib(20)=6765\n",
        "{err}"
    );
    assert!(
        err.contains("checksum") && err.contains("under the JIT"),
        "{err}"
    );

    // An image of another program.
    let other = dir.join("qsort.vmimg");
    assert!(vm()
        .arg("aot")
        .arg(elf("qsort"))
        .arg("-o")
        .arg(&other)
        .status()
        .unwrap()
        .success());
    let out = vm()
        .args([
            "run",
            "--engine",
            "aot",
            "--on-bad-image",
            "stop",
            "--image",
        ])
        .arg(&other)
        .arg(elf("fib"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(
        err.contains("qsort.vmimg") && err.contains("guest-program"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn usage_errors() {
    let out = vm().args(["aot"]).arg(elf("fib")).output().unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("-o"));
    let out = vm()
        .args(["run", "--engine", "aot"])
        .arg(elf("fib"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--image"));
    let out = vm()
        .args(["run", "--on-bad-image", "maybe"])
        .arg(elf("fib"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
}
