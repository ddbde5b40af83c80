//! Fuzz target: see `contract_gate_fuzz::contract`.
fn main() {
    afl::fuzz!(|data: &[u8]| contract_gate_fuzz::contract(data));
}
