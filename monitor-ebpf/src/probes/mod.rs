//! One module per hook family.
mod openssl;
mod process;
mod socket;
