//! The `sigv4-proxy` binary: a thin wrapper over [`sigv4_proxy::cli::run`].

use std::process::ExitCode;

/// jemalloc rather than glibc's malloc: requests are allocated on one worker thread and
/// often freed on another, and glibc serialises those frees on the owning arena's lock.
/// Under load that lock was the proxy's main source of futex wake-ups (see
/// `docs/benchmarks.md`). The library leaves the choice of allocator to its users.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    sigv4_proxy::cli::run()
}
