//! The one tokio runtime of the process. Entered only from `src/duck/`, from DuckDB's threads.

use std::future::Future;
use std::sync::LazyLock;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(
            std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .max(2),
        )
        .thread_name("lakemig-io")
        .enable_all()
        .build()
        .expect("lakemig: cannot start the tokio runtime")
});

/// Run a future to completion from a (non-runtime) DuckDB thread.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    RUNTIME.block_on(fut)
}
