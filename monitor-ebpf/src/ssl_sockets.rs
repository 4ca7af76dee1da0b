//! The socket under each TLS handle (`SSL_SOCKETS`), behind a direct-mapped array cache. Every
//! TLS call's entry asks for its handle's socket; the LRU hash's lookup (hash, bucket walk, key
//! compare) was a fifth of the entry probe, where an array read is inlined by the verifier.
//!
//! A cache slot holds one handle of one process, its socket, and a check word mixing the three:
//! slots are shared by whatever hashes to them, and two writers may interleave their words, so
//! a read is taken only when the check matches what it read (a mix of two writes does not match
//! but by a 2^-64 chance). Only a tie fills a slot, and every change to the hash goes through
//! here and rewrites or clears it, so the cache never says more than the hash did; an entry the
//! LRU evicts may live on in the cache, which is still the truth until the handle is freed
//! (which clears it). A miss is not written back: a handle freed by another thread between the
//! hash lookup and that write would leave its dead tie in the cache, for the next handle the
//! allocator puts at the same address.
use monitor_common::tracked_slot;

use crate::maps::{SSL_SOCKET_CACHE, SSL_SOCKETS, SslKey, SslSocketSlot};

#[inline(always)]
fn slot(key: &SslKey) -> Option<*mut SslSocketSlot> {
    let mixed = (key.ssl as u32) ^ ((key.ssl >> 32) as u32) ^ key.tgid.wrapping_mul(0x85eb_ca6b);
    SSL_SOCKET_CACHE.get_ptr_mut(tracked_slot(mixed))
}

#[inline(always)]
fn check(key: &SslKey, socket: u64) -> u64 {
    key.ssl ^ socket.rotate_left(29) ^ u64::from(key.tgid).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

#[inline(always)]
fn fill(key: &SslKey, socket: u64) {
    if let Some(slot) = slot(key) {
        // SAFETY: array value pointer, valid for this program run.
        unsafe {
            (*slot).ssl = key.ssl;
            (*slot).socket = socket;
            (*slot).check = check(key, socket);
        }
    }
}

/// The socket `key`'s handle is tied to, 0 if none.
#[inline(always)]
pub fn get(key: &SslKey) -> u64 {
    if let Some(slot) = slot(key) {
        // SAFETY: array value pointer, valid for this program run.
        let (ssl, socket, seen) = unsafe { ((*slot).ssl, (*slot).socket, (*slot).check) };
        if ssl == key.ssl && seen == check(key, socket) {
            return socket;
        }
    }
    // SAFETY: map value read by copy.
    unsafe { SSL_SOCKETS.get(key) }.copied().unwrap_or(0)
}

/// Ties `key`'s handle to `socket`.
#[inline(always)]
pub fn insert(key: &SslKey, socket: u64) -> Result<(), ()> {
    let inserted = SSL_SOCKETS.insert(key, &socket, 0).map_err(|_| ());
    if inserted.is_ok() {
        fill(key, socket);
    } else {
        // The slot must not keep an older socket of this handle.
        forget(key);
    }
    inserted
}

/// The handle is freed.
#[inline(always)]
pub fn remove(key: &SslKey) {
    let _ = SSL_SOCKETS.remove(key);
    forget(key);
}

#[inline(always)]
fn forget(key: &SslKey) {
    if let Some(slot) = slot(key) {
        // SAFETY: array value pointer, valid for this program run.
        unsafe {
            if (*slot).ssl == key.ssl {
                (*slot).check = 0;
                (*slot).ssl = 0;
            }
        }
    }
}
