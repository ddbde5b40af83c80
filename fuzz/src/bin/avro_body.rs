//! Fuzz target: see `contract_gate_fuzz::avro_body`.
fn main() {
    afl::fuzz!(|data: &[u8]| contract_gate_fuzz::avro_body(data));
}
