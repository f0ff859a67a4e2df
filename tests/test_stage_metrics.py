"""pipeline/stage_metrics.py: the peak RSS window of a stage follows what the stage allocates."""
import numpy as np

from pipeline.stage_metrics import SINCE_STAGE_START, peak_rss_bytes, reset_peak_rss

MIB = 2**20


def test_peak_rss_covers_an_allocation_and_resets_after_it():
    assert reset_peak_rss() == SINCE_STAGE_START   # Linux with a writable /proc/self/clear_refs
    baseline = peak_rss_bytes()
    block = np.ones(200 * MIB, dtype=np.uint8)     # 200 MiB, every page touched
    with_block = peak_rss_bytes()
    del block
    reset_peak_rss()
    after_release = peak_rss_bytes()
    assert with_block - baseline >= 190 * MIB
    assert with_block - after_release >= 150 * MIB   # the new window no longer holds the freed block
