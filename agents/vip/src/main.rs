fn main() {
    ocf_lib::ra::run::<vip::Vip>()
}
