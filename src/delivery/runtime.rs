//! Delivery's own tokio runtime, apart from the one serving publishers.

/// The runtime delivery and routing run on, apart from the one serving
/// publishers: tokio schedules tasks fairly, so thousands of delivery attempts
/// on the serving runtime starve ingestion (measured: 100 targets cut acked
/// events/s to 2.5%). On their own threads, the operating system shares the
/// cores between the two. Shut down without blocking when dropped.
pub struct Runtime(Option<tokio::runtime::Runtime>);

impl Runtime {
    pub fn new(threads: usize) -> std::io::Result<Runtime> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("delivery")
            .enable_all()
            .build()
            .map(|rt| Runtime(Some(rt)))
    }

    pub fn handle(&self) -> Option<tokio::runtime::Handle> {
        self.0.as_ref().map(|rt| rt.handle().clone())
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}
