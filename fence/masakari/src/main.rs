fn main() {
    ocf_lib::fence::run::<fence_masakari::MasakariFence>()
}
