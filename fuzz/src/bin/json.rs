//! Fuzz target: JSON records (see `contract_gate_fuzz::json`).
fn main() {
    afl::fuzz!(|data: &[u8]| contract_gate_fuzz::json(data));
}
