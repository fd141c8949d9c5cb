//! `keel contract new NAME`: a C contract project that builds and tests out of the box.

use crate::error::DevError;
use crate::project::{MANIFEST_FILE, check_name};
use std::path::{Path, PathBuf};

/// Creates `parent/NAME` with `keel.toml`, `src/NAME.c` (a counter), `tests/NAME_test.c` (a
/// unit test and a property test) and a `.gitignore`. Returns the project directory.
///
/// # Errors
/// [`DevError::Project`] for a bad name or an existing directory, [`DevError::Io`] on writes.
pub fn new_project(parent: &Path, name: &str) -> Result<PathBuf, DevError> {
    let dir = parent.join(name);
    check_name(name).map_err(|message| DevError::Project {
        path: dir.clone(),
        message,
    })?;
    if dir.exists() {
        return Err(DevError::Project {
            path: dir,
            message: "already exists; choose another name or remove it".into(),
        });
    }
    let c_name = name.replace('-', "_");
    let files = [
        (PathBuf::from(MANIFEST_FILE), keel_toml(name, &c_name)),
        (
            PathBuf::from(format!("src/{c_name}.c")),
            CONTRACT_C.to_owned(),
        ),
        (
            PathBuf::from(format!("tests/{c_name}_test.c")),
            TEST_C.to_owned(),
        ),
        (PathBuf::from(".gitignore"), "/target/\n".to_owned()),
    ];
    for (rel, text) in files {
        let path = dir.join(rel);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(DevError::io(p))?;
        }
        std::fs::write(&path, text).map_err(DevError::io(&path))?;
    }
    Ok(dir)
}

fn keel_toml(name: &str, c_name: &str) -> String {
    format!(
        r#"# Keel contract project. `keel contract build` compiles `sources` to target/{name}.wasm
# (DWARF in target/{name}.debug.wasm); `keel contract test` links `tests` in too and runs every
# exported test_* (unit) and prop_* (property) function.
[contract]
name = "{name}"
sources = ["src/{c_name}.c"]
tests = ["tests/{c_name}_test.c"]

# The capabilities the contract may use. Delete this table to have the build infer the least
# manifest from the code (effect typing); keep it to have the code checked against it.
[manifest]
storage = true
"#
    )
}

const CONTRACT_C: &str = r#"/* A counter: a u64 under the key "count".
 *   increment() -> new value (8 bytes LE)
 *   add(n: u64 LE) -> new value
 *   get() -> value */
#include "keel_runtime.h"

static const char KEY[] = "count";

uint64_t counter_value(void) {
    uint8_t buf[8] = {0};
    if (keel_storage_read(KEY, sizeof(KEY) - 1, buf, sizeof(buf)) != 8) return 0;
    return keel_load_u64_le(buf);
}

uint64_t counter_add(uint64_t n) {
    uint64_t v = counter_value();
    if (v + n < v) KEEL_FAIL("counter overflow");
    uint8_t buf[8];
    keel_store_u64_le(buf, v + n);
    keel_storage_write(KEY, sizeof(KEY) - 1, buf, sizeof(buf));
    return v + n;
}

static void return_u64(uint64_t v) {
    uint8_t buf[8];
    keel_store_u64_le(buf, v);
    keel_return_data(buf, sizeof(buf));
}

KEEL_EXPORT("increment") void increment(void) { return_u64(counter_add(1)); }

KEEL_EXPORT("add") void add(void) {
    if (keel_input_size() != 8) KEEL_FAIL("add takes 8 bytes");
    uint8_t in[8];
    keel_input_copy(in, 0, 8);
    return_u64(counter_add(keel_load_u64_le(in)));
}

KEEL_EXPORT("get") void get(void) { return_u64(counter_value()); }
"#;

const TEST_C: &str = r#"/* Tests (see target/sdk/keel_test.h): every exported test_* runs once, every prop_* on many
 * generated inputs, each as a transaction on a fresh chain. A test fails by trapping. */
#include "keel_test.h"

uint64_t counter_value(void);
uint64_t counter_add(uint64_t n);

KEEL_EXPORT("test_starts_at_zero_and_counts") void test_starts_at_zero_and_counts(void) {
    if (counter_value() != 0) KEEL_FAIL("fresh state is not zero");
    counter_add(1);
    counter_add(1);
    if (counter_value() != 2) KEEL_FAIL("two increments are not 2");
}

/* The deployed contract, called like any other contract would. */
KEEL_EXPORT("test_deployed_get_returns_zero") void test_deployed_get_returns_zero(void) {
    if (KEEL_TEST_CALL("get", 0, 0) != KEEL_CALL_OK) KEEL_FAIL("get failed");
    uint8_t out[8] = {1};
    if (keel_return_data_size() != 8) KEEL_FAIL("get returns 8 bytes");
    keel_return_data_copy(out, 0, 8);
    if (keel_load_u64_le(out) != 0) KEEL_FAIL("a fresh counter is not zero");
}

/* Adding two amounts is the same as adding their sum (when it does not overflow). */
KEEL_EXPORT("prop_add_is_additive") void prop_add_is_additive(void) {
    uint8_t in[16] = {0};
    int32_t n = keel_test_input_size();
    keel_test_input(in, 0, n < 16 ? n : 16);
    uint64_t a = keel_load_u64_le(in) >> 2, b = keel_load_u64_le(in + 8) >> 2;
    counter_add(a);
    counter_add(b);
    if (counter_value() != a + b) KEEL_FAIL("a then b is not a + b");
}
"#;
