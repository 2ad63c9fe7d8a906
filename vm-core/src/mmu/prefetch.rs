//! Translation prefetcher: on a TLB miss, predicts the next virtual pages
//! the guest will touch and fills their translations ahead of use.
//!
//! Two policies: `NextPage` always predicts the pages following the missing
//! one; `Stride` learns the distance between consecutive misses and
//! predicts along it once the same stride was seen twice in a row (falling
//! back to no prediction while the pattern is irregular, so random access
//! does not pollute the TLB).

/// Which pages to predict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefetchPolicy {
    /// The `degree` pages after the missing page.
    NextPage,
    /// `degree` pages along a confirmed miss-to-miss stride.
    Stride,
}

/// Prefetcher configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefetchConfig {
    /// Prediction policy.
    pub policy: PrefetchPolicy,
    /// Pages filled per miss (1..=16).
    pub degree: u32,
}

impl Default for PrefetchConfig {
    fn default() -> Self {
        Self {
            policy: PrefetchPolicy::Stride,
            degree: 4,
        }
    }
}

/// Miss-stream state of the prefetcher.
#[derive(Debug, Clone)]
pub struct TranslationPrefetcher {
    cfg: PrefetchConfig,
    last_page: Option<i64>,
    stride: i64,
    confirmed: bool,
    /// After prefetching along a stride, the page whose miss continues the
    /// stream (one stride past the last prefetched page): the gap the
    /// prefetch itself opened must not reset the learned stride.
    continues_at: Option<i64>,
}

/// Upper bound of [`PrefetchConfig::degree`].
pub const MAX_DEGREE: u32 = 16;

impl TranslationPrefetcher {
    /// A prefetcher with no history.
    pub fn new(cfg: PrefetchConfig) -> Self {
        Self {
            cfg: PrefetchConfig {
                degree: cfg.degree.clamp(1, MAX_DEGREE),
                ..cfg
            },
            last_page: None,
            stride: 0,
            confirmed: false,
            continues_at: None,
        }
    }

    /// Configuration in effect.
    pub fn config(&self) -> PrefetchConfig {
        self.cfg
    }

    /// Records a miss on virtual page number `vpn` and returns the page
    /// numbers to prefetch (possibly none).
    pub fn on_miss(&mut self, vpn: u64) -> impl Iterator<Item = u64> {
        let v = vpn as i64;
        let step = match self.cfg.policy {
            PrefetchPolicy::NextPage => 1,
            PrefetchPolicy::Stride => {
                if self.confirmed && self.continues_at == Some(v) {
                    self.stride
                } else {
                    let s = self.last_page.map_or(0, |l| v.wrapping_sub(l));
                    self.confirmed = s != 0 && s == self.stride;
                    self.stride = s;
                    if self.confirmed {
                        s
                    } else {
                        0
                    }
                }
            }
        };
        self.last_page = Some(v);
        let n = if step == 0 { 0 } else { self.cfg.degree as i64 };
        self.continues_at = (n > 0).then(|| v.wrapping_add(step.wrapping_mul(n + 1)));
        (1..=n).map(move |k| v.wrapping_add(step.wrapping_mul(k)) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_page_and_stride_predictions() {
        let mut p = TranslationPrefetcher::new(PrefetchConfig {
            policy: PrefetchPolicy::NextPage,
            degree: 2,
        });
        assert_eq!(p.on_miss(10).collect::<Vec<_>>(), vec![11, 12]);
        let mut s = TranslationPrefetcher::new(PrefetchConfig {
            policy: PrefetchPolicy::Stride,
            degree: 2,
        });
        assert_eq!(s.on_miss(100).count(), 0);
        assert_eq!(s.on_miss(103).count(), 0, "stride seen once");
        assert_eq!(s.on_miss(106).collect::<Vec<_>>(), vec![109, 112]);
        // The next miss of the stream comes one stride after the prefetched pages.
        assert_eq!(s.on_miss(115).collect::<Vec<_>>(), vec![118, 121]);
        assert_eq!(s.on_miss(50).count(), 0, "irregular: no prediction");
        assert_eq!(s.on_miss(48).count(), 0);
        assert_eq!(
            s.on_miss(46).collect::<Vec<_>>(),
            vec![44, 42],
            "negative stride"
        );
    }
}
