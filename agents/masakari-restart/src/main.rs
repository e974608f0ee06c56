fn main() {
    ocf_lib::ra::run::<masakari_restart::MasakariRestart>()
}
