//! The timers of `--header-timeout-secs` (hyper's for request heads, the service's for request
//! bodies): a slot per connection and use, swept by one ticker task, instead of a tokio sleep
//! per request.
//!
//! Hyper asks its timer for a new sleep for every request head and drops it once the head has
//! arrived. With tokio's timer that was, for every request, an entry put into the worker's
//! timer wheel and taken out again under the wheel's lock, and a wheel for each park of the
//! worker thread to consult. Served with no header timeout at all, a request
//! cost 0.3-0.6 us less CPU when the action did nothing, 0.1-0.3 us less for an ImportKeyPair
//! (docs/performance.md).
//!
//! Here a sleep only writes its deadline into its connection's slot and, when polled, leaves
//! its waker there. A ticker wakes every `tick` (a tenth of the timeout, 10 ms to 1 s), reads
//! the clock once and wakes the connections whose deadline has passed: a timeout never fires
//! early, and at most one tick late (more only if the ticker's thread is kept from running).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use hyper::rt::{Sleep, Timer};

/// No deadline: the slot is not armed.
const NEVER: u64 = u64::MAX;

/// The sweeper: hands out a [`HeadTimer`] per connection and wakes the expired ones.
#[derive(Debug, Clone)]
pub struct HeadTimers {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// What the nanosecond counts below count from.
    base: Instant,
    tick: Duration,
    /// Every connection's slot; a connection that has ended leaves a dead `Weak`, dropped at
    /// the next sweep.
    slots: Mutex<Vec<Weak<Slot>>>,
}

/// One connection's deadline and waker for one use. At most one sleep uses it at a time:
/// hyper keeps at most one header timeout per connection, and a connection reads one request
/// body at a time.
#[derive(Debug)]
struct Slot {
    /// Hyper's header timeout, not a request body's ([`HeadTimers::expire_heads`]).
    head: bool,
    deadline: AtomicU64,
    /// The clock at the last sweep that found `deadline` passed.
    expired_at: AtomicU64,
    waker: Mutex<Option<Waker>>,
}

impl HeadTimers {
    /// Sweepers for a header timeout of `timeout`; [`HeadTimers::run`] must be running for any
    /// timeout to fire.
    pub fn new(timeout: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                base: Instant::now(),
                tick: (timeout / 10).clamp(Duration::from_millis(10), Duration::from_secs(1)),
                slots: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The header timer for a new connection.
    pub fn timer(&self) -> HeadTimer {
        self.new_timer(true)
    }

    /// A timer for a new connection's request bodies.
    pub fn body_timer(&self) -> HeadTimer {
        self.new_timer(false)
    }

    fn new_timer(&self, head: bool) -> HeadTimer {
        let slot = Arc::new(Slot {
            head,
            deadline: AtomicU64::new(NEVER),
            expired_at: AtomicU64::new(0),
            waker: Mutex::new(None),
        });
        lock(&self.shared.slots).push(Arc::downgrade(&slot));
        HeadTimer {
            shared: Arc::clone(&self.shared),
            slot,
        }
    }

    /// Sweeps every tick until dropped.
    pub async fn run(self) {
        let mut ticks = tokio::time::interval(self.shared.tick);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            // Tokio's clock, which tests can pause and advance.
            self.sweep(tokio::time::Instant::now().into_std());
        }
    }

    /// At shutdown: ends every wait for a request head now, so that a connection idle or
    /// part-way through a head closes at once. Such a client has sent no request yet, and one
    /// that stalled would otherwise hold the shutdown for its whole grace period (hyper's
    /// graceful shutdown waits for a head it has begun to read). Request bodies still wait.
    pub fn expire_heads(&self) {
        self.expire(NEVER - 1, true);
    }

    /// Wakes the connections whose deadline has passed at `now` and forgets the ended ones.
    fn sweep(&self, now: Instant) {
        self.expire(self.shared.nanos(now), false);
    }

    /// [`HeadTimers::sweep`] at `now` in nanoseconds, for header timers only if `heads`.
    fn expire(&self, now: u64, heads: bool) {
        let mut expired = Vec::new();
        lock(&self.shared.slots).retain(|weak| {
            let Some(slot) = weak.upgrade() else {
                return false;
            };
            if (slot.head || !heads) && slot.deadline.load(Ordering::Acquire) <= now {
                slot.expired_at.fetch_max(now, Ordering::Release);
                expired.push(slot);
            }
            true
        });
        // Woken outside the list's lock: a waker may run code that registers a connection.
        for slot in expired {
            if let Some(waker) = lock(&slot.waker).take() {
                waker.wake();
            }
        }
    }
}

impl Shared {
    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(NEVER - 1)
    }
}

/// A connection's timer, given to hyper's `http1::Builder`.
#[derive(Debug)]
pub struct HeadTimer {
    shared: Arc<Shared>,
    slot: Arc<Slot>,
}

impl HeadTimer {
    fn arm(&self, deadline: Instant) -> u64 {
        let at = self.shared.nanos(deadline);
        self.slot.deadline.store(at, Ordering::Release);
        at
    }
}

impl Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(HeadSleep {
            deadline: self.arm(deadline),
            slot: Arc::clone(&self.slot),
        })
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn Sleep>>, new_deadline: Instant) {
        if let Some(sleep) = sleep.as_mut().downcast_mut_pin::<HeadSleep>() {
            sleep.get_mut().deadline = self.arm(new_deadline);
        }
    }
}

/// One header timeout: ready once a sweep has found its deadline passed.
#[derive(Debug)]
struct HeadSleep {
    deadline: u64,
    slot: Arc<Slot>,
}

impl HeadSleep {
    fn expired(&self) -> bool {
        self.slot.expired_at.load(Ordering::Acquire) >= self.deadline
    }
}

impl Future for HeadSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.expired() {
            return Poll::Ready(());
        }
        {
            let mut waker = lock(&self.slot.waker);
            match &mut *waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                w => *w = Some(cx.waker().clone()),
            }
        }
        // A sweep between the check and the registration took no waker: look again.
        if self.expired() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Sleep for HeadSleep {}

impl Drop for HeadSleep {
    /// Disarms the slot (unless a newer sleep armed it since), so that a connection busy with
    /// its request is not woken for a head it has already read.
    fn drop(&mut self) {
        let _ = self.slot.deadline.compare_exchange(
            self.deadline,
            NEVER,
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
    }
}

/// These locks guard plain values that a panic cannot leave half-written.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll(sleep: &mut Pin<Box<dyn Sleep>>, waker: &Waker) -> Poll<()> {
        sleep.as_mut().poll(&mut Context::from_waker(waker))
    }

    /// Timers for a one-second timeout, one connection's timer, a waker counting its wakes,
    /// and the instant the timers count from.
    fn one_connection() -> (HeadTimers, HeadTimer, Arc<Count>, Waker, Instant) {
        let timers = HeadTimers::new(Duration::from_secs(1));
        let timer = timers.timer();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let start = timers.shared.base;
        (timers, timer, count, waker, start)
    }

    #[test]
    fn a_sleep_fires_at_the_first_sweep_after_its_deadline_and_wakes_its_task() {
        // Arrange
        let (timers, timer, count, waker, start) = one_connection();
        let mut sleep = timer.sleep_until(start + Duration::from_millis(500));
        // Act / Assert: pending before the deadline, whatever the sweeps.
        assert!(poll(&mut sleep, &waker).is_pending());
        timers.sweep(start + Duration::from_millis(499));
        assert!(poll(&mut sleep, &waker).is_pending());
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        // The first sweep at or past the deadline wakes the task once, and the sleep is ready.
        timers.sweep(start + Duration::from_millis(500));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(poll(&mut sleep, &waker).is_ready());
    }

    #[test]
    fn a_reset_or_dropped_sleep_does_not_fire_for_its_old_deadline() {
        // Arrange
        let (timers, timer, count, waker, start) = one_connection();
        let mut sleep = timer.sleep_until(start + Duration::from_millis(100));
        assert!(poll(&mut sleep, &waker).is_pending());
        // Act: moved on to a later deadline, then swept past the old one.
        timer.reset(&mut sleep, start + Duration::from_millis(300));
        timers.sweep(start + Duration::from_millis(200));
        // Assert
        assert!(poll(&mut sleep, &waker).is_pending());
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        // Dropped (the head arrived): later sweeps wake nobody.
        drop(sleep);
        timers.sweep(start + Duration::from_secs(5));
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        // A new sleep on the same connection works as the first did.
        let mut again = timer.sleep_until(start + Duration::from_secs(6));
        assert!(poll(&mut again, &waker).is_pending());
        timers.sweep(start + Duration::from_secs(6));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(poll(&mut again, &waker).is_ready());
    }

    #[test]
    fn ended_connections_are_forgotten_at_the_next_sweep() {
        // Arrange
        let timers = HeadTimers::new(Duration::from_secs(1));
        assert_eq!(timers.shared.tick, Duration::from_millis(100));
        let start = timers.shared.base;
        let kept = timers.timer();
        let ended = timers.timer();
        assert_eq!(lock(&timers.shared.slots).len(), 2);
        // Act
        drop(ended);
        timers.sweep(start + Duration::from_millis(100));
        // Assert
        assert_eq!(lock(&timers.shared.slots).len(), 1);
        drop(kept);
        timers.sweep(start + Duration::from_millis(200));
        assert!(lock(&timers.shared.slots).is_empty());
    }

    #[test]
    fn a_shutdown_ends_waits_for_heads_and_leaves_bodies_theirs() {
        // Arrange: a head and a body waiting an hour each.
        let (timers, head, count, waker, start) = one_connection();
        let body = timers.body_timer();
        let mut head_sleep = head.sleep_until(start + Duration::from_secs(3600));
        let mut body_sleep = body.sleep_until(start + Duration::from_secs(3600));
        assert!(poll(&mut head_sleep, &waker).is_pending());
        assert!(poll(&mut body_sleep, &waker).is_pending());
        // Act
        timers.expire_heads();
        // Assert
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(poll(&mut head_sleep, &waker).is_ready());
        assert!(poll(&mut body_sleep, &waker).is_pending());
        timers.sweep(start + Duration::from_secs(3600));
        assert!(poll(&mut body_sleep, &waker).is_ready());
    }

    #[tokio::test(start_paused = true)]
    async fn the_ticker_wakes_an_expired_sleep() {
        // Arrange
        let timers = HeadTimers::new(Duration::from_millis(300));
        let timer = timers.timer();
        let ticker = tokio::spawn(timers.clone().run());
        let started = tokio::time::Instant::now();
        // Act
        timer.sleep(Duration::from_millis(300)).await;
        // Assert: no earlier than asked, and about a tick (30 ms) later at most.
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(300), "{waited:?}");
        assert!(waited <= Duration::from_millis(360), "{waited:?}");
        ticker.abort();
    }
}
