//! Test payloads: large deterministic files and byte-exact comparison.
//!
//! Owns [`write_test_file`] (a file of any size whose bytes depend on a seed, so an
//! upload/download round trip can be checked exactly without keeping a copy in memory)
//! and [`assert_same_file`]. It does not talk to servers.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

/// Writes `len` pseudo-random bytes derived from `seed` to `path` (xorshift; not crypto).
///
/// Different seeds give different contents; the same seed the same bytes. Streams, so a
/// 50 MiB file costs no memory.
pub(crate) fn write_test_file(path: &Path, len: u64, seed: u64) {
    let file =
        File::create(path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
    let mut out = BufWriter::with_capacity(1 << 16, file);
    // xorshift64* must not start at 0.
    let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
    let mut written = 0u64;
    while written < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let word = state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
        let take = usize::try_from((len - written).min(8)).expect("at most 8");
        out.write_all(&word[..take]).expect("write test file");
        written += take as u64;
    }
    out.flush().expect("flush test file");
}

/// Panics unless the two files have the same length and bytes, naming the first
/// differing offset.
#[track_caller]
pub(crate) fn assert_same_file(expected: &Path, actual: &Path) {
    let open = |p: &Path| {
        BufReader::with_capacity(
            1 << 16,
            File::open(p).unwrap_or_else(|e| panic!("cannot open {}: {e}", p.display())),
        )
    };
    let (mut a, mut b) = (open(expected), open(actual));
    let (mut buf_a, mut buf_b) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    let mut offset = 0u64;
    loop {
        let n = read_full(&mut a, &mut buf_a);
        let m = read_full(&mut b, &mut buf_b);
        if let Some(i) = buf_a[..n.min(m)]
            .iter()
            .zip(&buf_b[..n.min(m)])
            .position(|(x, y)| x != y)
        {
            panic!(
                "{} and {} differ at byte {}",
                expected.display(),
                actual.display(),
                offset + i as u64
            );
        }
        assert_eq!(
            n,
            m,
            "{} and {} differ in length (one ends near byte {})",
            expected.display(),
            actual.display(),
            offset + n.min(m) as u64
        );
        if n == 0 {
            return;
        }
        offset += n as u64;
    }
}

fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> usize {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]).expect("read file") {
            0 => break,
            n => filled += n,
        }
    }
    filled
}
