fn main() {
    ocf_lib::ra::run::<ocf_probe::Probe>()
}
