//! [`Schedule`]: retry and repeat policies (ZIO `Schedule`), as pure values.
//!
//! Following ZIO: `recurs(n)` allows `n` recurrences with no delay; `spaced(d)` recurs forever,
//! `d` apart; `exponential(base)` recurs forever with delays `base`, `2 base`, `4 base`...;
//! `a.and(b)` (ZIO `a && b`) recurs while both do, after the longer of the two delays. zio-kafka's
//! authorization retry is `recurs(5).and(spaced(500 ms))`: five retries, 500 ms apart.

use std::time::Duration;

/// A recurrence policy.
#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    /// At most this many recurrences, without delay.
    Recurs(u32),
    /// Forever, this far apart.
    Spaced(Duration),
    /// Forever, `base * factor^n` before recurrence `n` (counted from 0).
    Exponential { base: Duration, factor: f64 },
    /// While both recur, after the longer delay.
    Both(Box<Schedule>, Box<Schedule>),
}

impl Schedule {
    /// At most `n` recurrences (ZIO `Schedule.recurs`).
    pub fn recurs(n: u32) -> Schedule {
        Schedule::Recurs(n)
    }

    /// Forever, `interval` apart (ZIO `Schedule.spaced`).
    pub fn spaced(interval: Duration) -> Schedule {
        Schedule::Spaced(interval)
    }

    /// Forever, doubling from `base` (ZIO `Schedule.exponential(base)`).
    pub fn exponential(base: Duration) -> Schedule {
        Schedule::Exponential { base, factor: 2.0 }
    }

    /// Forever, multiplying by `factor` from `base` (ZIO `Schedule.exponential(base, factor)`).
    pub fn exponential_with_factor(base: Duration, factor: f64) -> Schedule {
        assert!(
            factor >= 1.0 && factor.is_finite(),
            "an exponential factor must be at least 1"
        );
        Schedule::Exponential { base, factor }
    }

    /// The intersection (ZIO `&&`): recurs while both recur, after the longer delay.
    pub fn and(self, other: Schedule) -> Schedule {
        Schedule::Both(Box::new(self), Box::new(other))
    }

    /// The delay before recurrence number `recurrence` (counted from 0), or `None` when the
    /// schedule is done and no further recurrence happens.
    pub fn delay_before(&self, recurrence: u32) -> Option<Duration> {
        match self {
            Schedule::Recurs(limit) => (recurrence < *limit).then_some(Duration::ZERO),
            Schedule::Spaced(interval) => Some(*interval),
            Schedule::Exponential { base, factor } => {
                // Capped at a day so that a long-running schedule cannot overflow.
                let scaled = base.as_secs_f64() * factor.powi(recurrence.min(1_000) as i32);
                Some(Duration::from_secs_f64(scaled.min(86_400.0)))
            }
            Schedule::Both(left, right) => {
                let left = left.delay_before(recurrence)?;
                let right = right.delay_before(recurrence)?;
                Some(left.max(right))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// zio-kafka's default authorization retry: five recurrences, 500 ms apart, then done.
    #[test]
    fn recurs_and_spaced_gives_five_delays_of_500_ms() {
        let schedule = Schedule::recurs(5).and(Schedule::spaced(Duration::from_millis(500)));
        let delays: Vec<_> = (0..7).map(|n| schedule.delay_before(n)).collect();
        let expected = [Some(Duration::from_millis(500)); 5];
        assert_eq!(&delays[..5], &expected);
        assert_eq!(delays[5], None);
        assert_eq!(delays[6], None);
    }

    /// Exponential delays double from the base, as ZIO's default factor of 2.
    #[test]
    fn exponential_doubles() {
        let schedule = Schedule::exponential(Duration::from_millis(10));
        let delays: Vec<_> = (0..4).map(|n| schedule.delay_before(n).unwrap()).collect();
        let millis: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(millis, vec![10, 20, 40, 80]);
    }

    /// `recurs(0)` never recurs.
    #[test]
    fn recurs_zero_is_done_at_once() {
        assert_eq!(Schedule::recurs(0).delay_before(0), None);
    }
}
