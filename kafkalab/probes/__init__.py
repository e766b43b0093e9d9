"""The OS's view of a broker process: page cache, system calls, heap, CPU and disk counters."""
