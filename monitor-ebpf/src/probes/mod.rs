//! One module per hook family.
mod empty;
mod go_tls;
mod openssl;
mod process;
mod socket;
