//! The signing proxy: hyper server, routing, body hashing/spooling, upstream TLS client,
//! forward mode, and the mapping of errors to HTTP responses. (Issue 3 fills this in.)
