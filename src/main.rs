//! The `hounsfield` command.

fn main() -> std::process::ExitCode {
    tune_allocator();
    hounsfield::cli::main()
}

/// glibc raises its mmap threshold after large buffers are freed, so later volume-sized
/// buffers (BVHs, label maps, 70 MB slices of HU) come from the heap and stay resident
/// after they are freed: a reconstruction of S2030 then peaks 10 % above its live memory.
/// A fixed threshold of 1 MiB keeps every large buffer in its own mapping, returned to
/// the system when freed.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before any thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
