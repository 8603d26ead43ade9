//! The heap every Pygmy process allocates from: jemalloc, as TiKV does. With glibc's malloc a
//! replica's resident memory grew in steps of 64 MiB arenas, one per thread that ever allocated
//! (tokio's blocking pool, sled's threads), each keeping what it once held; jemalloc returns
//! freed pages to the system within seconds, so resident memory follows what is live (#13).

#[global_allocator]
static HEAP: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
