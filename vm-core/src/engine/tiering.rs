//! Hotspot detection: a per-block execution counter and the promotion rule.

/// Promotes a block to the JIT once it has executed `threshold` times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierPolicy {
    threshold: u32,
}

impl TierPolicy {
    /// A policy with the given threshold (0 and 1 both mean "compile on first run").
    pub fn new(threshold: u32) -> Self {
        Self {
            threshold: threshold.max(1),
        }
    }

    /// The threshold.
    pub fn threshold(&self) -> u32 {
        self.threshold
    }

    /// Counts one execution; returns true when the block should be compiled now.
    #[inline]
    pub fn record_execution(&self, count: &mut u32) -> bool {
        *count = count.saturating_add(1);
        *count >= self.threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promotes_at_threshold() {
        let p = TierPolicy::new(3);
        let mut c = 0;
        assert!(!p.record_execution(&mut c));
        assert!(!p.record_execution(&mut c));
        assert!(p.record_execution(&mut c));
        assert!(p.record_execution(&mut c));
        let mut c = u32::MAX;
        assert!(p.record_execution(&mut c));
    }
}
