//! Fuzz target: see `contract_gate_fuzz::wire`.
fn main() {
    afl::fuzz!(|data: &[u8]| contract_gate_fuzz::wire(data));
}
