#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shipctl::fuzzing::yaml_reader(data));
