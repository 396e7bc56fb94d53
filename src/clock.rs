//! Time as a dependency: everything that expires or paces reads the clock through this trait,
//! so tests move time forward instead of sleeping.

use parking_lot::Mutex;

use chrono::{DateTime, Duration, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock();
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock()
    }
}

/// The wall clock shifted by an offset that only grows: time flows as usual, and tests jump
/// it forward (to expire holds and admissions) without stopping the pacer.
#[derive(Debug, Default)]
pub struct ShiftedClock {
    offset: Mutex<Duration>,
}

impl ShiftedClock {
    /// The wall clock, not shifted yet.
    pub fn new() -> Self {
        ShiftedClock {
            offset: Mutex::new(Duration::zero()),
        }
    }

    /// Jumps the clock forward.
    pub fn advance(&self, by: Duration) {
        *self.offset.lock() += by;
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + *self.offset.lock()
    }
}
