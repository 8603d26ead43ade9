//! The heap every Pygmy process allocates from: jemalloc, as TiKV does. With glibc's malloc a
//! replica's resident memory grew in steps of 64 MiB arenas, one per thread that ever allocated
//! (tokio's blocking pool, sled's threads), each keeping what it once held; jemalloc returns
//! freed pages to the system within seconds, so resident memory follows what is live (#13).
//! Its settings (a background purging thread, dirty pages kept 1 s, none muzzy) are compiled in
//! from `.cargo/config.toml`: order replicas at 100k orders went from 64-70 to 60-64 MiB.

#[global_allocator]
static HEAP: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
