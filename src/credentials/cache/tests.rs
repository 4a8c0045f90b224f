//! Cache behaviour on a paused tokio clock.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::*;
use crate::credentials::{BoxFuture, TokioClock};

const T0: Duration = Duration::from_secs(1_700_000_000);
const HOUR: Duration = Duration::from_secs(3600);

type Answer = Result<(&'static str, Option<Duration>), &'static str>;

/// A provider answering from a script; each answer is (access key id, lifetime) or
/// an error message. It takes `delay` per call and counts calls.
#[derive(Debug)]
struct Scripted {
    clock: TokioClock,
    answers: Mutex<VecDeque<Answer>>,
    calls: Arc<AtomicUsize>,
    delay: Duration,
}

impl ProvideCredentials for Scripted {
    fn provide_credentials(&self) -> BoxFuture<'_, Result<Credentials, CredentialsError>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            let next = self
                .answers
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or(Err("script exhausted"));
            match next {
                Ok((akid, lifetime)) => Ok(Credentials::new(
                    akid,
                    "secret",
                    None,
                    lifetime.map(|l| self.clock.now() + l),
                    "Scripted",
                )),
                Err(msg) => Err(CredentialsError::failed("Scripted", msg)),
            }
        })
    }
}

struct Fixture {
    cache: SharedCredentials,
    calls: Arc<AtomicUsize>,
}

fn fixture(answers: Vec<Answer>, delay: Duration) -> Fixture {
    let clock = TokioClock::starting_at(SystemTime::UNIX_EPOCH + T0);
    let calls = Arc::new(AtomicUsize::new(0));
    let provider = Scripted {
        clock,
        answers: Mutex::new(answers.into()),
        calls: calls.clone(),
        delay,
    };
    let cache =
        SharedCredentials::with_settings(provider, CacheSettings::default(), Arc::new(clock));
    Fixture { cache, calls }
}

/// Lets spawned tasks run without moving the paused clock.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

async fn akid(cache: &SharedCredentials) -> String {
    cache.get().await.unwrap().access_key_id().to_owned()
}

#[tokio::test(start_paused = true)]
async fn loads_once_then_answers_from_memory() {
    let f = fixture(vec![Ok(("A", None))], Duration::ZERO);
    assert_eq!(akid(&f.cache).await, "A");
    for _ in 0..10 {
        assert_eq!(akid(&f.cache).await, "A");
    }
    tokio::time::advance(HOUR * 24 * 365).await;
    assert_eq!(akid(&f.cache).await, "A");
    assert_eq!(
        f.calls.load(Ordering::SeqCst),
        1,
        "long-term keys are never refreshed"
    );
}

#[tokio::test(start_paused = true)]
async fn reloads_after_expiry() {
    // The background refresh would renew "A" ahead of time; make it fail so the only
    // way to "B" is a load after "A" expired.
    let f = fixture(
        vec![Ok(("A", Some(HOUR))), Err("down"), Ok(("B", Some(HOUR)))],
        Duration::ZERO,
    );
    assert_eq!(akid(&f.cache).await, "A");
    // The refresh timer fires at 55 min and fails; its retry (1 s later) gets "B".
    tokio::time::sleep(HOUR - Duration::from_secs(5 * 60) + Duration::from_millis(1)).await;
    settle().await;
    assert_eq!(f.calls.load(Ordering::SeqCst), 2);
    assert_eq!(akid(&f.cache).await, "A", "old credentials still valid");
    tokio::time::sleep(Duration::from_secs(2)).await;
    settle().await;
    assert_eq!(f.calls.load(Ordering::SeqCst), 3);
    assert_eq!(akid(&f.cache).await, "B");
}

#[tokio::test(start_paused = true)]
async fn expired_credentials_are_never_served() {
    let f = fixture(
        vec![Ok(("A", Some(HOUR))), Ok(("B", Some(HOUR)))],
        Duration::from_secs(1),
    );
    // Pause the clock and jump past A's expiry without letting the timer run first.
    assert_eq!(akid(&f.cache).await, "A");
    let cache = f.cache.clone();
    // With auto-advance the timer refresh happens inside the hour; either way a get
    // after expiry must not see "A".
    tokio::time::sleep(HOUR + Duration::from_secs(1)).await;
    assert_eq!(akid(&cache).await, "B");
}

#[tokio::test(start_paused = true)]
async fn refreshes_ahead_in_background_without_blocking_requests() {
    let f = fixture(
        vec![Ok(("A", Some(HOUR))), Ok(("B", Some(HOUR)))],
        Duration::from_secs(2),
    );
    assert_eq!(akid(&f.cache).await, "A");
    // 56 minutes in: inside the 5-minute refresh window.
    tokio::time::advance(Duration::from_secs(56 * 60)).await;
    let start = Instant::now();
    assert_eq!(
        akid(&f.cache).await,
        "A",
        "old credentials served during refresh"
    );
    assert_eq!(start.elapsed(), Duration::ZERO, "the request did not wait");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(akid(&f.cache).await, "B");
    assert_eq!(f.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn timer_refreshes_without_any_request() {
    let f = fixture(
        vec![Ok(("A", Some(HOUR))), Ok(("B", Some(HOUR)))],
        Duration::ZERO,
    );
    assert_eq!(akid(&f.cache).await, "A");
    tokio::time::sleep(Duration::from_secs(54 * 60)).await;
    assert_eq!(
        f.calls.load(Ordering::SeqCst),
        1,
        "not yet in the refresh window"
    );
    tokio::time::sleep(Duration::from_secs(60) + Duration::from_millis(1)).await;
    settle().await;
    assert_eq!(f.calls.load(Ordering::SeqCst), 2);
    assert_eq!(f.cache.cached().unwrap().access_key_id(), "B");
}

#[tokio::test(start_paused = true)]
async fn short_lived_credentials_refresh_at_half_life() {
    // 4-minute credentials are inside the 5-minute window from the start; refreshing
    // at once would loop. They are refreshed after 2 minutes instead.
    let four_min = Duration::from_secs(240);
    let f = fixture(
        vec![Ok(("A", Some(four_min))), Ok(("B", Some(four_min)))],
        Duration::ZERO,
    );
    assert_eq!(akid(&f.cache).await, "A");
    tokio::time::advance(Duration::from_secs(119)).await;
    assert_eq!(akid(&f.cache).await, "A");
    settle().await;
    assert_eq!(f.calls.load(Ordering::SeqCst), 1);
    tokio::time::advance(Duration::from_secs(2)).await;
    settle().await;
    assert_eq!(f.calls.load(Ordering::SeqCst), 2);
    assert_eq!(akid(&f.cache).await, "B");
}

#[tokio::test(start_paused = true)]
async fn single_flight_under_100_concurrent_waiters() {
    let f = fixture(vec![Ok(("A", Some(HOUR)))], Duration::from_secs(1));
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let cache = f.cache.clone();
        tasks.push(tokio::spawn(async move { cache.get().await }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap().unwrap());
    }
    assert_eq!(
        f.calls.load(Ordering::SeqCst),
        1,
        "one load for 100 waiters"
    );
    assert!(results.iter().all(|c| Arc::ptr_eq(c, &results[0])));
    assert_eq!(results[0].access_key_id(), "A");
}

#[tokio::test(start_paused = true)]
async fn concurrent_waiters_share_one_failure() {
    let f = fixture(vec![Err("source down")], Duration::from_secs(1));
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let cache = f.cache.clone();
        tasks.push(tokio::spawn(async move { cache.get().await }));
    }
    for t in tasks {
        let err = t.await.unwrap().unwrap_err();
        assert_eq!(err.to_string(), "Scripted: source down");
        assert_eq!(err.provider(), "Scripted");
    }
    assert_eq!(f.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn failing_source_keeps_serving_old_credentials_until_real_expiry() {
    let f = fixture(vec![Ok(("A", Some(HOUR)))], Duration::ZERO); // then "script exhausted"
    assert_eq!(akid(&f.cache).await, "A");
    // Just before expiry (minus the 10 s margin), refreshes have failed many times.
    tokio::time::sleep(HOUR - Duration::from_secs(11)).await;
    settle().await;
    assert!(f.calls.load(Ordering::SeqCst) > 2, "refresh was retried");
    assert_eq!(akid(&f.cache).await, "A");
    tokio::time::advance(Duration::from_secs(2)).await;
    let err = f.cache.get().await.unwrap_err();
    assert_eq!(err.to_string(), "Scripted: script exhausted");
}

#[tokio::test(start_paused = true)]
async fn retries_back_off_exponentially() {
    let f = fixture(vec![], Duration::ZERO); // always fails
    let calls = || f.calls.load(Ordering::SeqCst);
    assert!(f.cache.get().await.is_err());
    assert_eq!(calls(), 1);
    // Within the 1 s backoff: the last error, no new load.
    tokio::time::advance(Duration::from_millis(900)).await;
    assert!(f.cache.get().await.is_err());
    assert_eq!(calls(), 1);
    // After it: a new attempt, then 2 s of backoff, then 4 s.
    tokio::time::advance(Duration::from_millis(200)).await;
    assert!(f.cache.get().await.is_err());
    assert_eq!(calls(), 2);
    tokio::time::advance(Duration::from_millis(1900)).await;
    assert!(f.cache.get().await.is_err());
    assert_eq!(calls(), 2);
    tokio::time::advance(Duration::from_millis(200)).await;
    assert!(f.cache.get().await.is_err());
    assert_eq!(calls(), 3);
    tokio::time::advance(Duration::from_millis(3900)).await;
    assert!(f.cache.get().await.is_err());
    assert_eq!(calls(), 3);
    tokio::time::advance(Duration::from_millis(200)).await;
    assert!(f.cache.get().await.is_err());
    assert_eq!(calls(), 4);
    // The cap: after many failures the delay stays at 60 s.
    for _ in 0..10 {
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(f.cache.get().await.is_err());
    }
    assert_eq!(calls(), 14);
}

#[tokio::test(start_paused = true)]
async fn recovers_when_the_source_comes_back() {
    let f = fixture(vec![Err("down"), Ok(("A", None))], Duration::ZERO);
    assert!(f.cache.get().await.is_err());
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(akid(&f.cache).await, "A");
}

#[tokio::test(start_paused = true)]
async fn cancelled_request_does_not_cancel_the_load() {
    let f = fixture(vec![Ok(("A", None))], Duration::from_secs(5));
    let cache = f.cache.clone();
    let waiter = tokio::spawn(async move { cache.get().await });
    settle().await;
    waiter.abort();
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(f.cache.cached().unwrap().access_key_id(), "A");
    assert_eq!(akid(&f.cache).await, "A");
    assert_eq!(f.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn slow_source_times_out() {
    let f = fixture(vec![Ok(("A", None))], Duration::from_secs(31));
    let err = f.cache.get().await.unwrap_err();
    assert!(
        matches!(err, CredentialsError::Shared(ref e) if matches!(**e, CredentialsError::TimedOut { .. })),
        "{err:?}"
    );
}

#[test]
fn get_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let f = fixture_without_runtime();
    assert_send(&f.get());
}

fn fixture_without_runtime() -> SharedCredentials {
    SharedCredentials::new(crate::credentials::StaticProvider::new(Credentials::new(
        "A", "s", None, None, "Static",
    )))
}

/// A wall clock moved by hand, independent of tokio time (like a laptop resuming
/// from sleep: the wall clock jumps, timers have not fired).
#[derive(Debug)]
struct ManualClock(Mutex<SystemTime>);

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

#[tokio::test(start_paused = true)]
async fn a_request_in_the_refresh_window_starts_the_refresh() {
    let clock = Arc::new(ManualClock(Mutex::new(SystemTime::UNIX_EPOCH + T0)));
    let calls = Arc::new(AtomicUsize::new(0));
    let provider = Scripted {
        clock: TokioClock::starting_at(SystemTime::UNIX_EPOCH + T0),
        answers: Mutex::new(vec![Ok(("A", Some(HOUR))), Ok(("B", Some(HOUR)))].into()),
        calls: calls.clone(),
        delay: Duration::ZERO,
    };
    let cache = SharedCredentials::with_settings(provider, CacheSettings::default(), clock.clone());
    assert_eq!(akid(&cache).await, "A");
    *clock.0.lock().unwrap() += Duration::from_secs(56 * 60);
    assert_eq!(akid(&cache).await, "A", "still valid: served at once");
    settle().await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the request started a refresh"
    );
    assert_eq!(akid(&cache).await, "B");
}

#[derive(Debug)]
struct Panicking;

impl ProvideCredentials for Panicking {
    fn provide_credentials(&self) -> BoxFuture<'_, Result<Credentials, CredentialsError>> {
        Box::pin(async { panic!("provider bug") })
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_provider_fails_requests_instead_of_hanging_them() {
    let cache = SharedCredentials::with_settings(
        Panicking,
        CacheSettings::default(),
        Arc::new(TokioClock::starting_at(SystemTime::UNIX_EPOCH + T0)),
    );
    let err = tokio::time::timeout(Duration::from_secs(5), cache.get())
        .await
        .expect("get() returned")
        .unwrap_err();
    assert!(err.to_string().contains("failed unexpectedly"), "{err}");
    // And the cache is not stuck: after the backoff it tries again.
    tokio::time::advance(Duration::from_secs(2)).await;
    let err = tokio::time::timeout(Duration::from_secs(5), cache.get())
        .await
        .expect("get() returned")
        .unwrap_err();
    assert!(err.to_string().contains("failed unexpectedly"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn credentials_stay_usable_until_the_expiry_margin() {
    let f = fixture(vec![Ok(("AKID1", Some(HOUR)))], Duration::ZERO);
    let c = f.cache.get().await.unwrap();
    assert!(f.cache.is_usable(&c), "fresh credentials");
    let margin = CacheSettings::default().expiry_margin;
    tokio::time::advance(HOUR - margin - Duration::from_secs(1)).await;
    assert!(f.cache.is_usable(&c), "one second before the margin");
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(
        !f.cache.is_usable(&c),
        "at the margin: no longer for signing"
    );
}

#[tokio::test(start_paused = true)]
async fn long_term_credentials_are_always_usable() {
    let f = fixture(vec![Ok(("AKID1", None))], Duration::ZERO);
    let c = f.cache.get().await.unwrap();
    tokio::time::advance(1000 * HOUR).await;
    assert!(f.cache.is_usable(&c));
}
