fn main() {
    ocf_lib::ra::run::<haproxy::Haproxy>()
}
