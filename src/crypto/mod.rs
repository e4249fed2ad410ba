//! Master key ring and AES-256-GCM sealing of stored secrets.
