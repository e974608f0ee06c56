//! `make demo` is the shell script `tests/demo/run`; this crate exists so the workspace's
//! `tests/*` member glob finds a package here, and its tests check the script.
