//! The mutator's view of the heap: allocation (the safepoint), field access
//! through rooted handles, the write barrier, and cycle scheduling.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::sync::mpsc::{self, Receiver, TryRecvError};

use super::alloc::Allocator;
use super::background::{BackgroundThread, Job};
use super::barrier::{SatbBarrier, SatbQueue};
use super::heap::Arena;
use super::mark::concurrent::ConcurrentMarker;
use super::mark::{parallel, stw};
use super::object::{self, ObjIndex, MARK_BIT, MAX_REFS};
use super::plan::{GcConfig, GcPlan};
use super::roots::{Handle, RootMark, RootStack};
use super::sweep;
use super::telemetry::{CycleStats, PauseKind, Telemetry};
use super::verify;
use super::GcError;

const WORD: usize = 8;

/// Heap words the background sweeper walks before handing its free lists
/// to the mutator (1 MiB).
const SWEEP_SEGMENT_WORDS: usize = 1 << 17;

/// While a background marker or sweeper runs, the allocation path polls it
/// after every this many words allocated (64 KiB), instead of on every
/// allocation: a done marker waits at most that long for its finish pause,
/// and the fast path stays one compare.
const POLL_WORDS: usize = 1 << 13;

/// A background sweep in progress and the marking figures of its cycle.
struct PendingSweep {
    /// Swept segments' free lists, then the result.
    msgs: Receiver<SweepMsg>,
    /// End of the last segment received: the sweeper never reads below it.
    swept_to: usize,
    /// The sweep's result and time, once received.
    finished: Option<(sweep::SweepResult, Duration)>,
    mark: Duration,
    background: Duration,
    /// End of the swept range: chunks below it are the sweeper's to judge.
    top: usize,
}

/// What the background sweep sends the mutator.
enum SweepMsg {
    /// The free lists of one swept segment, and where the walk stopped.
    Segment(Allocator, usize),
    /// The sweep is over: its result and how long it took.
    Done(sweep::SweepResult, Duration),
}

impl PendingSweep {
    /// Merges every segment already published; true once the sweep is over.
    fn take_published(&mut self, alloc: &mut Allocator) -> Result<bool, GcError> {
        while self.finished.is_none() {
            match self.msgs.try_recv() {
                Ok(msg) => self.accept(msg, alloc),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return Err(background_died()),
            }
        }
        Ok(self.finished.is_some())
    }

    /// Waits for the next message; false once the sweep is over.
    fn wait_for_next(&mut self, alloc: &mut Allocator) -> Result<bool, GcError> {
        if self.finished.is_some() {
            return Ok(false);
        }
        let msg = self.msgs.recv().map_err(|_| background_died())?;
        self.accept(msg, alloc);
        Ok(self.finished.is_none())
    }

    fn accept(&mut self, msg: SweepMsg, alloc: &mut Allocator) {
        match msg {
            SweepMsg::Segment(lists, swept_to) => {
                alloc.merge_free_lists(lists);
                self.swept_to = swept_to;
            }
            SweepMsg::Done(r, t) => self.finished = Some((r, t)),
        }
    }
}

/// The background thread's job ended without its result: it panicked (a
/// collector bug), so the heap's state is unknown.
fn background_died() -> GcError {
    GcError::HeapCorrupt(super::HeapDefect::BadChunk { at: 0 })
}

/// A garbage-collected heap and its (single) mutator.
pub struct Gc {
    arena: Arena,
    alloc: Allocator,
    roots: RootStack,
    config: GcConfig,
    satb: Arc<SatbQueue>,
    barrier: SatbBarrier,
    /// The concurrent plan's parked GC thread (created at its first cycle).
    background: Option<BackgroundThread>,
    marker: Option<ConcurrentMarker>,
    sweeper: Option<PendingSweep>,
    start_pause_mark: Duration,
    telemetry: Telemetry,
    allocated_since_gc: usize,
    budget_words: usize,
    /// The allocation path takes its slow safepoint once
    /// `allocated_since_gc` reaches this (the budget, or sooner while a
    /// background marker or sweeper needs polling).
    poll_at: usize,
    /// `MARK_BIT` while a concurrent cycle marks (allocate black), else 0.
    alloc_mark: u64,
    /// While a background sweep runs, `sweep_unswept_from..sweep_top` is
    /// the range it may still read (from the end of the last segment it
    /// published to its `top`): objects allocated there are born marked,
    /// see `Gc::alloc`. Both 0 when no sweep runs.
    sweep_unswept_from: usize,
    sweep_top: usize,
    gray: Vec<ObjIndex>,
    /// Objects allocated below the sweep's `top` while it ran: born marked
    /// so the sweeper keeps them; the next marking clears those marks
    /// before it traces (on its own thread, off the mutator's time).
    marked_while_sweeping: Vec<ObjIndex>,
}

impl Gc {
    /// A heap of `config.heap_limit_bytes` bytes.
    pub fn new(config: GcConfig) -> Result<Self, GcError> {
        let words = config.heap_limit_bytes / WORD;
        if words < 16 {
            return Err(GcError::InvalidConfig("heap limit below 128 bytes"));
        }
        if words > u32::MAX as usize {
            return Err(GcError::InvalidConfig("heap limit above 32 GiB"));
        }
        if config.plan.threads() == 0 {
            return Err(GcError::InvalidConfig("zero marker threads"));
        }
        if config.growth_factor.is_nan() || config.growth_factor <= 0.0 {
            return Err(GcError::InvalidConfig("growth factor must be positive"));
        }
        let arena = Arena::new(words);
        // The concurrent plan's GC thread is created here, outside any
        // pause; without it (the OS refused) cycles run stop-the-world.
        let background = match config.plan {
            GcPlan::ConcurrentMarkSweep { .. } => BackgroundThread::spawn().ok(),
            _ => None,
        };
        let satb = Arc::new(SatbQueue::default());
        Ok(Self {
            alloc: Allocator::new(arena.len()),
            arena,
            roots: RootStack::default(),
            barrier: SatbBarrier::new(satb.clone()),
            satb,
            background,
            marker: None,
            sweeper: None,
            start_pause_mark: Duration::ZERO,
            telemetry: Telemetry::new(),
            allocated_since_gc: 0,
            budget_words: (words / 16).max(1),
            poll_at: (words / 16).max(1),
            alloc_mark: 0,
            sweep_unswept_from: 0,
            sweep_top: 0,
            gray: Vec::new(),
            marked_while_sweeping: Vec::new(),
            config,
        })
    }

    /// The configuration the heap was built with.
    pub fn config(&self) -> &GcConfig {
        &self.config
    }

    /// Pauses, cycles, byte counts and time split recorded so far.
    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    /// Bytes currently not available for allocation (live plus garbage).
    pub fn used_bytes(&self) -> usize {
        (self.arena.len() - 1 - self.alloc.available_words()) * WORD
    }

    /// Whether a concurrent cycle is marking.
    pub fn is_marking(&self) -> bool {
        self.marker.is_some()
    }

    /// Allocates an object with `nrefs` null references and `data_words`
    /// zeroed data words, rooted by the returned handle. This is the
    /// safepoint: it may run, start or finish a collection.
    #[inline]
    pub fn alloc(&mut self, nrefs: usize, data_words: usize) -> Result<Handle, GcError> {
        if nrefs > MAX_REFS || data_words > u32::MAX as usize {
            return Err(GcError::ObjectTooLarge { nrefs, data_words });
        }
        let words = 1 + nrefs + data_words;
        if words > u32::MAX as usize {
            return Err(GcError::ObjectTooLarge { nrefs, data_words });
        }
        if self.allocated_since_gc >= self.poll_at {
            self.safepoint()?;
        }
        let at = match self.alloc.alloc(&self.arena, words) {
            Some(at) => at,
            None => self.alloc_after_collection(words)?,
        };
        // Allocate black while a cycle marks: the cycle must not free it.
        let mut header = object::object_header(words, nrefs) | self.alloc_mark;
        if at.wrapping_sub(self.sweep_unswept_from) < self.sweep_top - self.sweep_unswept_from {
            // The sweeper may not have reached this chunk: a mark makes it
            // read as live (`sweep::FreeChunks::Keep`).
            header |= MARK_BIT;
            self.note_allocated_during_sweep(at);
        }
        self.arena.init_object(at, words, header);
        self.allocated_since_gc += words;
        self.telemetry.bytes_allocated += (words * WORD) as u64;
        Ok(self.roots.push(at as ObjIndex))
    }

    #[cold]
    fn note_allocated_during_sweep(&mut self, at: usize) {
        self.marked_while_sweeping.push(at as ObjIndex);
        self.telemetry.objects_allocated_during_sweep += 1;
    }

    /// The allocation path's slow check: poll the background threads and
    /// start a cycle once the budget is spent.
    #[cold]
    #[inline(never)]
    fn safepoint(&mut self) -> Result<(), GcError> {
        self.poll()?;
        if self.allocated_since_gc >= self.budget_words {
            self.trigger()?;
        }
        self.update_poll_at();
        Ok(())
    }

    /// Recomputes when the allocation path next takes its slow check; every
    /// path that changes the cycle state or the budget ends with it.
    fn update_poll_at(&mut self) {
        self.alloc_mark = if self.marker.is_some() { MARK_BIT } else { 0 };
        (self.sweep_unswept_from, self.sweep_top) = self
            .sweeper
            .as_ref()
            .map_or((0, 0), |p| (p.swept_to, p.top));
        self.poll_at = if self.marker.is_some() || self.sweeper.is_some() {
            (self.allocated_since_gc + POLL_WORDS).min(self.budget_words)
        } else {
            self.budget_words
        };
    }

    #[cold]
    #[inline(never)]
    fn alloc_after_collection(&mut self, words: usize) -> Result<usize, GcError> {
        let r = self.alloc_after_collection_inner(words);
        self.update_poll_at();
        r
    }

    fn alloc_after_collection_inner(&mut self, words: usize) -> Result<usize, GcError> {
        if let Some(at) = self.alloc_from_sweep(words)? {
            return Ok(at);
        }
        if self.marker.is_some() {
            // Finishing the cycle starts its background sweep; wait for that
            // sweep's memory before resorting to a stop-the-world collection.
            self.finish_concurrent()?;
            if let Some(at) = self.alloc_from_sweep(words)? {
                return Ok(at);
            }
        }
        self.collect_stop_the_world()?;
        self.alloc
            .alloc(&self.arena, words)
            .ok_or(GcError::OutOfMemory {
                requested_bytes: words * WORD,
                heap_limit_bytes: self.config.heap_limit_bytes,
            })
    }

    /// Allocates from a running background sweep's segments as they arrive,
    /// blocking only until one fits; `None` once the sweep is over without
    /// room. The whole wait is one pause (the mutator is stalled).
    fn alloc_from_sweep(&mut self, words: usize) -> Result<Option<usize>, GcError> {
        let Some(p) = &mut self.sweeper else {
            return Ok(None);
        };
        let t0 = Instant::now();
        let mut found = None;
        while p.wait_for_next(&mut self.alloc)? {
            found = self.alloc.alloc(&self.arena, words);
            if found.is_some() {
                break;
            }
        }
        self.telemetry.record_pause(t0, PauseKind::SweepWait);
        if found.is_none() {
            self.adopt_sweep(true)?;
            found = self.alloc.alloc(&self.arena, words);
        }
        Ok(found)
    }

    /// Finishes a concurrent cycle whose background marking is done.
    #[inline]
    fn poll(&mut self) -> Result<(), GcError> {
        if let Some(p) = &mut self.sweeper {
            if p.take_published(&mut self.alloc)? {
                self.adopt_sweep(false)?;
            }
        }
        match &self.marker {
            Some(m) if m.is_done() => self.finish_concurrent(),
            _ => Ok(()),
        }
    }

    fn trigger(&mut self) -> Result<(), GcError> {
        match self.config.plan {
            GcPlan::ConcurrentMarkSweep { .. } => {
                // The previous cycle's sweep must end before marking starts
                // (it clears the mark bits); until then keep allocating.
                if self.marker.is_none() && self.sweeper.is_none() {
                    self.start_concurrent()?;
                }
                Ok(())
            }
            _ => self.collect_stop_the_world(),
        }
    }

    /// Runs a complete collection now: for the concurrent plan a whole
    /// cycle (start pause, marking, finish pause), otherwise a
    /// stop-the-world one.
    pub fn collect(&mut self) -> Result<(), GcError> {
        let r = self.collect_now();
        self.update_poll_at();
        r
    }

    fn collect_now(&mut self) -> Result<(), GcError> {
        match self.config.plan {
            GcPlan::ConcurrentMarkSweep { .. } => {
                self.adopt_sweep(true)?;
                if self.marker.is_none() {
                    self.start_concurrent()?;
                }
                if self.marker.is_some() {
                    self.finish_concurrent()?;
                }
                self.adopt_sweep(true)
            }
            _ => self.collect_stop_the_world(),
        }
    }

    /// Finishes a running concurrent cycle, waiting for its marker (safe to
    /// call when none runs).
    pub fn finish_cycle(&mut self) -> Result<(), GcError> {
        let mut r = Ok(());
        if self.marker.is_some() {
            r = self.finish_concurrent();
        }
        if r.is_ok() {
            r = self.adopt_sweep(true);
        }
        self.update_poll_at();
        r
    }

    fn collect_stop_the_world(&mut self) -> Result<(), GcError> {
        if self.marker.is_some() {
            self.finish_concurrent()?;
            return self.adopt_sweep(true);
        }
        self.adopt_sweep(true)?;
        let t0 = Instant::now();
        self.clear_marks_left_by_sweep();
        let threads = self.config.plan.threads();
        if threads > 1 {
            let roots: Vec<ObjIndex> = self.roots.objects().collect();
            parallel::mark_parallel(&self.arena, &roots, threads);
        } else {
            stw::mark_from(&self.arena, self.roots.objects(), &mut self.gray);
        }
        let mark = t0.elapsed();
        self.sweep_and_record(t0, mark, Duration::ZERO, PauseKind::StopTheWorld)
    }

    fn start_concurrent(&mut self) -> Result<(), GcError> {
        self.adopt_sweep(true)?;
        let t0 = Instant::now();
        self.satb.active.store(true, Ordering::Release);
        let snapshot: Vec<ObjIndex> = self.roots.objects().collect();
        if self.background.is_none() {
            // The OS refused the background thread at `Gc::new`: collect
            // with the world stopped.
            self.satb.active.store(false, Ordering::Release);
            return self.collect_stop_the_world();
        }
        let stale = std::mem::take(&mut self.marked_while_sweeping);
        let (marker, job) = ConcurrentMarker::new(
            self.arena.clone(),
            self.satb.clone(),
            snapshot,
            stale,
            self.config.plan.threads(),
        );
        self.marker = Some(marker);
        self.alloc_mark = MARK_BIT;
        self.start_pause_mark = t0.elapsed();
        self.telemetry.record_pause(t0, PauseKind::ConcurrentStart);
        // The world runs again: wake the marker (see `BackgroundThread::run`).
        self.hand_to_background(job)
    }

    /// Queues `job` on the background thread, after the pause that
    /// prepared it has been recorded.
    fn hand_to_background(&mut self, job: Job) -> Result<(), GcError> {
        match &self.background {
            Some(bg) if bg.run(job) => Ok(()),
            // Only a job that panicked ends the thread: a collector bug.
            _ => Err(background_died()),
        }
    }

    /// Clears the marks of objects allocated during the last background
    /// sweep (under a pause, before a stop-the-world marking).
    fn clear_marks_left_by_sweep(&mut self) {
        for &o in &self.marked_while_sweeping {
            self.arena.clear_mark(o as usize);
        }
        self.marked_while_sweeping.clear();
    }

    fn finish_concurrent(&mut self) -> Result<(), GcError> {
        let t0 = Instant::now();
        let Some(marker) = self.marker.take() else {
            return Ok(());
        };
        let Some((_, background)) = marker.join() else {
            return Err(background_died());
        };
        self.alloc_mark = 0;
        self.barrier.flush();
        // Current roots are either in the snapshot or allocated black;
        // scanning them again is cheap insurance against a missed root.
        stw::mark_from(&self.arena, self.roots.objects(), &mut self.gray);
        loop {
            let logged = self.satb.take();
            if logged.is_empty() {
                break;
            }
            stw::mark_from(&self.arena, logged, &mut self.gray);
        }
        self.satb.active.store(false, Ordering::Release);
        let mark = t0.elapsed() + self.start_pause_mark;
        self.start_concurrent_sweep(t0, mark, background)
    }

    /// Ends the finish pause by handing the sweep of `1..top` to a
    /// background thread. The mutator keeps its free lists (the sweeper
    /// leaves free chunks alone and lists only what died in this cycle),
    /// allocates from them and from the tail above `top`, and merges each
    /// swept segment's lists as the sweeper publishes them (it never
    /// revisits a published segment). So the mutator is not left without
    /// memory while the sweeper walks a stretch of live data.
    fn start_concurrent_sweep(
        &mut self,
        t0: Instant,
        mark: Duration,
        background: Duration,
    ) -> Result<(), GcError> {
        let top = self.alloc.top();
        let arena = self.arena.clone();
        if self.background.is_none() {
            return self.sweep_and_record(t0, mark, background, PauseKind::ConcurrentFinish);
        }
        let (tx, msgs) = mpsc::channel();
        let job: Job = Box::new(move || {
            let s0 = Instant::now();
            let mut lists = Allocator::new(top);
            let r = sweep::sweep_in_segments(
                &arena,
                &mut lists,
                top,
                SWEEP_SEGMENT_WORDS,
                sweep::FreeChunks::Keep,
                |l, swept_to| {
                    let part = std::mem::replace(l, Allocator::new(top));
                    let _ = tx.send(SweepMsg::Segment(part, swept_to));
                },
            );
            let _ = tx.send(SweepMsg::Segment(lists, top));
            let _ = tx.send(SweepMsg::Done(r, s0.elapsed()));
        });
        self.sweeper = Some(PendingSweep {
            msgs,
            swept_to: 1,
            finished: None,
            mark,
            background,
            top,
        });
        self.sweep_unswept_from = 1;
        self.sweep_top = top;
        self.allocated_since_gc = 0;
        self.telemetry.record_pause(t0, PauseKind::ConcurrentFinish);
        // The world runs again: wake the sweeper (see `BackgroundThread::run`).
        self.hand_to_background(job)
    }

    /// Joins the background sweeper (if any) and adopts its free lists;
    /// `wait` says whether the mutator is blocked on it (recorded as a pause).
    fn adopt_sweep(&mut self, wait: bool) -> Result<(), GcError> {
        let Some(mut p) = self.sweeper.take() else {
            return Ok(());
        };
        self.sweep_unswept_from = 0;
        self.sweep_top = 0;
        let t0 = Instant::now();
        while p.wait_for_next(&mut self.alloc)? {}
        let Some((r, sweep_time)) = p.finished else {
            return Err(background_died());
        };
        if wait {
            self.telemetry.record_pause(t0, PauseKind::SweepWait);
        }
        let since = self.allocated_since_gc;
        self.record_cycle(r, sweep_time, p.mark, p.background)?;
        // Allocation since the finish pause counts towards the next cycle.
        self.allocated_since_gc = since;
        Ok(())
    }

    fn sweep_and_record(
        &mut self,
        t0: Instant,
        mark: Duration,
        background: Duration,
        kind: PauseKind,
    ) -> Result<(), GcError> {
        let s0 = Instant::now();
        let top = self.alloc.top();
        let r = sweep::sweep(&self.arena, &mut self.alloc, top);
        let sweep_time = s0.elapsed();
        self.telemetry.record_pause(t0, kind);
        self.record_cycle(r, sweep_time, mark, background)
    }

    fn record_cycle(
        &mut self,
        r: sweep::SweepResult,
        sweep_time: Duration,
        mark: Duration,
        background: Duration,
    ) -> Result<(), GcError> {
        self.telemetry.bytes_freed += (r.freed_words * WORD) as u64;
        self.telemetry.cycles.push(CycleStats {
            live_bytes: r.live_words * WORD,
            freed_bytes: r.freed_words * WORD,
            mark_pause: mark,
            concurrent_mark: background,
            sweep: sweep_time,
        });
        self.allocated_since_gc = 0;
        let heap_words = self.arena.len();
        let mut budget = (r.live_words as f64 * self.config.growth_factor) as usize;
        budget = budget.max(heap_words / 16);
        if matches!(self.config.plan, GcPlan::ConcurrentMarkSweep { .. }) {
            // Pacing: the background sweep walks the whole `1..top`, so a
            // cycle costs the GC thread about `top` words of sweeping for
            // `budget` words the mutator allocates. Below `top / 4` the GC
            // thread, with no more CPU than the mutator (a loaded machine),
            // falls behind, the mutator grows `top` meanwhile, which makes
            // the next sweep longer still, until it waits for the sweeper.
            budget = budget.max(self.alloc.top() / 4);
            // Start early enough that the cycle can finish before the heap fills.
            budget = budget.min(self.alloc.available_words() / 2);
        }
        self.budget_words = budget.min(self.alloc.available_words()).max(1);
        if self.config.verify {
            self.verify()?;
        }
        Ok(())
    }

    /// Runs the heap verifier (outside a concurrent cycle it also checks
    /// that no mark bit is left set).
    pub fn verify(&self) -> Result<usize, GcError> {
        if self.marker.is_some() || self.sweeper.is_some() {
            return Ok(0);
        }
        verify::verify_heap(
            &self.arena,
            self.alloc.top(),
            &self.roots.objects().collect::<Vec<_>>(),
            &self.marked_while_sweeping,
        )
        .map_err(GcError::HeapCorrupt)
    }

    #[inline(always)]
    fn resolve(&self, h: Handle) -> Result<ObjIndex, GcError> {
        self.roots.get(h).ok_or(GcError::StaleHandle)
    }

    #[inline(always)]
    fn check_ref_field(&self, obj: ObjIndex, field: usize) -> Result<(), GcError> {
        let n = object::nrefs(self.arena.header(obj));
        if field >= n {
            return Err(GcError::FieldOutOfRange {
                index: field,
                len: n,
            });
        }
        Ok(())
    }

    /// Number of reference fields of the object behind `h`.
    pub fn ref_count(&self, h: Handle) -> Result<usize, GcError> {
        Ok(object::nrefs(self.arena.header(self.resolve(h)?)))
    }

    /// Number of data words of the object behind `h`.
    pub fn data_len(&self, h: Handle) -> Result<usize, GcError> {
        let hd = self.arena.header(self.resolve(h)?);
        Ok(object::size_words(hd) - 1 - object::nrefs(hd))
    }

    /// Reads reference field `field` of `h`, rooting the target in a new handle.
    #[inline(always)]
    pub fn get_ref(&mut self, h: Handle, field: usize) -> Result<Option<Handle>, GcError> {
        let obj = self.resolve(h)?;
        self.check_ref_field(obj, field)?;
        let r = self.arena.load_ref(obj, field);
        Ok((r != 0).then(|| self.roots.push(r)))
    }

    /// Points the existing handle `dst` at field `field` of `src` (no new
    /// root slot; for loops). Returns false, leaving `dst` unchanged, if the
    /// field is null.
    #[inline]
    pub fn load_ref_into(
        &mut self,
        dst: Handle,
        src: Handle,
        field: usize,
    ) -> Result<bool, GcError> {
        let obj = self.resolve(src)?;
        self.resolve(dst)?;
        self.check_ref_field(obj, field)?;
        let r = self.arena.load_ref(obj, field);
        if r == 0 {
            return Ok(false);
        }
        self.roots.set(dst, r);
        Ok(true)
    }

    /// Points `dst` at the object behind `src`.
    pub fn assign(&mut self, dst: Handle, src: Handle) -> Result<(), GcError> {
        let obj = self.resolve(src)?;
        if self.roots.set(dst, obj) {
            Ok(())
        } else {
            Err(GcError::StaleHandle)
        }
    }

    /// Whether `a` and `b` name the same object.
    pub fn same_object(&self, a: Handle, b: Handle) -> Result<bool, GcError> {
        Ok(self.resolve(a)? == self.resolve(b)?)
    }

    /// Stores `value` (or null) into reference field `field` of `h`, through
    /// the SATB barrier.
    #[inline(always)]
    pub fn set_ref(
        &mut self,
        h: Handle,
        field: usize,
        value: Option<Handle>,
    ) -> Result<(), GcError> {
        let obj = self.resolve(h)?;
        let v = match value {
            Some(v) => self.resolve(v)?,
            None => 0,
        };
        self.check_ref_field(obj, field)?;
        if self.marker.is_some() {
            let old = self.arena.load_ref(obj, field);
            self.barrier.log(old);
        }
        self.arena.store_ref(obj, field, v);
        Ok(())
    }

    fn data_index(&self, h: Handle, i: usize) -> Result<usize, GcError> {
        let obj = self.resolve(h)?;
        let hd = self.arena.header(obj);
        let n = object::nrefs(hd);
        let len = object::size_words(hd) - 1 - n;
        if i >= len {
            return Err(GcError::FieldOutOfRange { index: i, len });
        }
        Ok(obj as usize + 1 + n + i)
    }

    /// Reads data word `i` of `h`.
    #[inline]
    pub fn get_data(&self, h: Handle, i: usize) -> Result<u64, GcError> {
        Ok(self.arena.load_word(self.data_index(h, i)?))
    }

    /// Writes data word `i` of `h`.
    #[inline]
    pub fn set_data(&mut self, h: Handle, i: usize, v: u64) -> Result<(), GcError> {
        let at = self.data_index(h, i)?;
        self.arena.store_word(at, v);
        Ok(())
    }

    /// The current shadow-stack depth.
    pub fn root_mark(&self) -> RootMark {
        self.roots.mark()
    }

    /// Pops every handle made after `m`; those handles go stale.
    pub fn release_to(&mut self, m: RootMark) {
        self.roots.truncate(m);
    }

    /// Pops every handle made after `m` but keeps `keep`'s object, returning
    /// its new handle (the way a scope returns a value).
    pub fn release_to_keeping(&mut self, m: RootMark, keep: Handle) -> Result<Handle, GcError> {
        let obj = self.resolve(keep)?;
        self.roots.truncate(m);
        Ok(self.roots.push(obj))
    }

    /// Number of live root slots.
    pub fn root_count(&self) -> usize {
        self.roots.len()
    }
}

impl Drop for Gc {
    fn drop(&mut self) {
        // Let a running job end before its memory goes away; dropping the
        // background thread then closes its queue and joins it.
        if let Some(m) = self.marker.take() {
            m.join();
        }
        if let Some(mut p) = self.sweeper.take() {
            while let Ok(true) = p.wait_for_next(&mut self.alloc) {}
        }
    }
}
