//! One module per hook family.
mod go_tls;
mod openssl;
mod process;
mod socket;
