//! Guards the simulation itself: without `--cfg madsim`, madsim is the real runtime, nothing is
//! deterministic, and the other tests would prove nothing.

/// The build is simulated: `--cfg madsim` came from `.cargo/config.toml`.
#[test]
fn build_is_simulated() {
    assert!(
        sim::SIMULATED && cfg!(madsim),
        "this build lacks `--cfg madsim`. A RUSTFLAGS environment variable replaces the flags in \
         .cargo/config.toml: unset it, or add `--cfg madsim` to it."
    );
}
