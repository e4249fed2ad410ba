//! Rate limiting: GCRA buckets, in-process or shared through Redis.
