//! When the event loop polls instead of sleeping. Waking a sleeping thread costs tens
//! of microseconds on a VM — most of a request/response's time in the switch — so
//! after light traffic the loop keeps polling (yielding the CPU) for a while. Under
//! bulk traffic (TCP super-frames, or many frames per millisecond) the next event
//! comes soon anyway and the CPU is better left to the VMs: the loop sleeps.

use std::time::{Duration, Instant};
use switch_proto::PollSpin;

/// Length of the periods traffic is judged over.
const PERIOD: Duration = Duration::from_millis(1);
/// More frames than this in a period is bulk traffic.
const LIGHT_FRAMES: u32 = 64;

#[derive(Debug)]
pub struct SpinPolicy {
    window: Duration,
    period_start: Instant,
    frames: u32,
    gso: bool,
    bulk: bool,
}

impl SpinPolicy {
    /// Polls for `spin` after the last event when traffic is light.
    pub fn new(spin: PollSpin, now: Instant) -> SpinPolicy {
        SpinPolicy {
            // Without end: no gap between events reaches Duration::MAX.
            window: match spin {
                PollSpin::Micros(us) => Duration::from_micros(us),
                PollSpin::Always => Duration::MAX,
            },
            period_start: now,
            frames: 0,
            gso: false,
            bulk: false,
        }
    }

    /// One frame switched (`gso`: a super-frame).
    pub fn note_frame(&mut self, gso: bool) {
        self.frames = self.frames.saturating_add(1);
        self.gso |= gso;
    }

    /// Whether to poll rather than sleep, the last event having come at `last_event`.
    pub fn should_spin(&mut self, now: Instant, last_event: Option<Instant>) -> bool {
        if now.duration_since(self.period_start) >= PERIOD {
            self.bulk = self.gso || self.frames > LIGHT_FRAMES;
            self.period_start = now;
            self.frames = 0;
            self.gso = false;
        }
        !self.bulk && last_event.is_some_and(|t| now.duration_since(t) < self.window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: Duration = Duration::from_micros(1);

    #[test]
    fn light_traffic_polls_for_the_window_then_sleeps() {
        let t0 = Instant::now();
        let mut s = SpinPolicy::new(PollSpin::Micros(300), t0);
        s.note_frame(false);
        assert!(s.should_spin(t0 + 10 * US, Some(t0)));
        assert!(s.should_spin(t0 + 299 * US, Some(t0)));
        assert!(!s.should_spin(t0 + 301 * US, Some(t0)));
        assert!(!s.should_spin(t0, None), "no event yet: sleep");
        assert!(!SpinPolicy::new(PollSpin::Micros(0), t0).should_spin(t0, Some(t0)));
    }

    #[test]
    fn always_polls_after_light_traffic_however_long_ago_but_not_through_bulk() {
        let t0 = Instant::now();
        let mut s = SpinPolicy::new(PollSpin::Always, t0);
        assert!(!s.should_spin(t0, None), "no event yet: sleep");
        s.note_frame(false);
        let day = Duration::from_secs(86_400);
        assert!(s.should_spin(t0 + day, Some(t0)));
        s.note_frame(true);
        let t1 = t0 + day + PERIOD;
        assert!(!s.should_spin(t1, Some(t1)), "after super-frames: sleep");
    }

    #[test]
    fn bulk_traffic_sleeps_until_a_quiet_period() {
        let t0 = Instant::now();
        let mut s = SpinPolicy::new(PollSpin::Micros(300), t0);
        s.note_frame(true); // a super-frame
        let t1 = t0 + PERIOD;
        assert!(!s.should_spin(t1, Some(t1)), "after super-frames: sleep");
        for _ in 0..=LIGHT_FRAMES {
            s.note_frame(false);
        }
        let t2 = t1 + PERIOD;
        assert!(!s.should_spin(t2, Some(t2)), "many small frames: sleep");
        for _ in 0..LIGHT_FRAMES {
            s.note_frame(false);
        }
        let t3 = t2 + PERIOD;
        assert!(s.should_spin(t3, Some(t3)), "light again: poll");
    }
}
