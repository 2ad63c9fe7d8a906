//! Exhaustive model check of the concurrent-marking protocol: the mutator's
//! SATB write barrier (`barrier.rs`, `Gc::set_ref`), allocate-black, the
//! background marker (`mark/concurrent.rs`) and the finish pause
//! (`Gc::finish_concurrent`), on a tiny heap.
//!
//! Why a hand-written checker rather than a sanitizer run: ThreadSanitizer
//! needs `-Zbuild-std` (not available on this toolchain), and a stress test
//! only samples the schedules the OS happens to produce. Here the mutator
//! and the marker are state machines whose steps are the atomic operations
//! of the real code (field load, field store, mark-bit RMW, SATB buffer
//! push, queue take under its mutex), and a depth-first search with a
//! visited set runs *every* interleaving of them, while the mutator
//! chooses, at each of its steps, *any* operation of the API (load a field
//! into a handle, store a handle or null into a field, allocate, drop a
//! handle), up to a bounded number of operations. At every point where the
//! real collector could run the finish pause (marker done, no store half
//! way), the finish pause is run on a copy and the safety property is
//! checked: every object reachable from the mutator's roots is marked (so
//! the sweep cannot free it); for the real protocol also the SATB property
//! (everything reachable at the start of the cycle is marked).
//!
//! The checker is also run on deliberately broken protocols (no barrier,
//! white allocation, no queue drain at finish) and must find a
//! counterexample for each, which shows it can see the bugs the real
//! protocol is meant to prevent.
//!
//! Limits: steps are sequentially consistent (the real code's orderings are
//! argued in docs/gc.md, not model-checked); at most two marker threads,
//! sharing one gray pool (the real workers steal from each other's deques,
//! which changes who traces an object, not the per-object protocol); heaps
//! of a few objects with two fields.

use rustc_hash::FxHashSet;

/// Objects in the model heap: 0..INITIAL form the initial graph, the rest
/// are free chunks the mutator may allocate.
const OBJS: usize = 6;
const INITIAL: usize = 4;
const FIELDS: usize = 2;
/// Mutator root slots (the shadow stack).
const SLOTS: usize = 3;
const NULL: u8 = u8::MAX;

/// A bounded stack of object ids stored inline, so cloning a state (done
/// for every explored step) allocates nothing. Unused entries stay NULL so
/// equal stacks hash equally.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
struct List {
    len: u8,
    items: [u8; 8],
}

impl Default for List {
    fn default() -> Self {
        Self {
            len: 0,
            items: [NULL; 8],
        }
    }
}

impl List {
    fn push(&mut self, o: u8) {
        // Bounded by the model's size: at most OBJS grays, SLOTS + 4 logged.
        assert!(
            (self.len as usize) < self.items.len(),
            "model list overflow"
        );
        self.items[self.len as usize] = o;
        self.len += 1;
    }
    fn pop(&mut self) -> Option<u8> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        Some(std::mem::replace(&mut self.items[self.len as usize], NULL))
    }
    fn len(&self) -> usize {
        self.len as usize
    }
    fn is_empty(&self) -> bool {
        self.len == 0
    }
    fn iter(&self) -> impl Iterator<Item = u8> + '_ {
        self.items[..self.len as usize].iter().copied()
    }
    fn append(&mut self, other: List) {
        for o in other.iter() {
            self.push(o);
        }
    }
}

/// Which parts of the protocol are in force.
#[derive(Debug, Clone, Copy)]
struct Protocol {
    /// `set_ref` logs the overwritten reference while marking.
    barrier: bool,
    /// Objects allocated during marking are born marked.
    allocate_black: bool,
    /// The marker drains the SATB queue before reporting done, and the
    /// finish pause drains what is left.
    drain_queue: bool,
    /// The finish pause marks from the current roots again.
    rescan_roots: bool,
    /// Mutator-local SATB buffer size before a flush to the shared queue.
    local_capacity: usize,
    /// Marker threads sharing the gray pool (1 or 2).
    markers: usize,
}

const REAL: Protocol = Protocol {
    barrier: true,
    allocate_black: true,
    drain_queue: true,
    rescan_roots: true,
    local_capacity: 2,
    markers: 1,
};

/// A mutator API call.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
enum Op {
    /// `load_ref_into(slots[dst], slots[src], field)`.
    Load { dst: u8, src: u8, field: u8 },
    /// `set_ref(slots[obj], field, slots[val] or None)`.
    Store { obj: u8, field: u8, val: Option<u8> },
    /// `alloc` into `slots[dst]`.
    Alloc { dst: u8 },
    /// `release_to`: the handle in `slots[dst]` is gone.
    Drop { dst: u8 },
}

/// Where a `set_ref` is between its atomic steps.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
enum StoreStage {
    LoadOld,
    Log(u8),
    Write,
}

#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
struct InflightStore {
    obj: u8,
    field: u8,
    value: u8,
    stage: StoreStage,
}

/// One schedule step, for counterexample traces.
// The payloads are read only through `Debug` when a trace is printed.
#[allow(dead_code)]
#[derive(Debug, Clone, Copy)]
enum Step {
    Begin(Op),
    Mutator(StoreStage),
    Marker(u8),
}

#[derive(Clone, Hash, PartialEq, Eq)]
struct State {
    fields: [[u8; FIELDS]; OBJS],
    allocated: [bool; OBJS],
    marked: [bool; OBJS],
    slots: [u8; SLOTS],
    local: List,
    queue: List,
    ops_left: u8,
    store: Option<InflightStore>,
    pending: List,
    gray: List,
    /// Per marker thread: object being scanned, next field, and the child
    /// loaded but not yet marked.
    scan: [Option<(u8, u8, Option<u8>)>; 2],
    marker_done: bool,
}

/// Initial graph: slot 0 -> 0 -> 1 -> {2, 3}, and 2 -> 3; slots 1, 2 empty.
fn initial(ops: u8) -> State {
    let mut fields = [[NULL; FIELDS]; OBJS];
    fields[0][0] = 1;
    fields[1][0] = 2;
    fields[1][1] = 3;
    fields[2][0] = 3;
    let mut allocated = [false; OBJS];
    allocated[..INITIAL].fill(true);
    let slots = [0, NULL, NULL];
    State {
        fields,
        allocated,
        marked: [false; OBJS],
        slots,
        local: List::default(),
        queue: List::default(),
        ops_left: ops,
        store: None,
        // The start pause snapshots the roots; the marker marks them.
        pending: {
            let mut l = List::default();
            slots
                .iter()
                .filter(|&&o| o != NULL)
                .for_each(|&o| l.push(o));
            l
        },
        gray: List::default(),
        scan: [None; 2],
        marker_done: false,
    }
}

fn reachable(s: &State, from: impl IntoIterator<Item = u8>) -> [bool; OBJS] {
    let mut seen = [false; OBJS];
    let mut stack: Vec<u8> = from.into_iter().filter(|&o| o != NULL).collect();
    while let Some(o) = stack.pop() {
        if std::mem::replace(&mut seen[o as usize], true) {
            continue;
        }
        stack.extend(s.fields[o as usize].iter().copied().filter(|&c| c != NULL));
    }
    seen
}

/// `stw::mark_from` under the finish pause.
fn mark_from(s: &mut State, roots: impl IntoIterator<Item = u8>) {
    let mut gray: Vec<u8> = Vec::new();
    for r in roots {
        if r != NULL && !s.marked[r as usize] {
            s.marked[r as usize] = true;
            gray.push(r);
        }
    }
    while let Some(o) = gray.pop() {
        for c in s.fields[o as usize] {
            if c != NULL && !s.marked[c as usize] {
                s.marked[c as usize] = true;
                gray.push(c);
            }
        }
    }
}

/// Runs the finish pause on a copy; `Err` names the unmarked object.
fn check_finish(
    s: &State,
    p: Protocol,
    snapshot_live: Option<&[bool; OBJS]>,
) -> Result<(), String> {
    let mut f = s.clone();
    // Flush the mutator buffer, rescan the current roots, drain the log.
    let local = std::mem::take(&mut f.local);
    f.queue.append(local);
    if p.rescan_roots {
        let roots = f.slots;
        mark_from(&mut f, roots);
    }
    if p.drain_queue {
        let logged = std::mem::take(&mut f.queue);
        mark_from(&mut f, logged.iter());
    }
    let live = reachable(&f, f.slots);
    for o in 0..OBJS {
        if live[o] && !f.marked[o] {
            return Err(format!("object {o} reachable from the roots but unmarked"));
        }
        if snapshot_live.is_some_and(|l| l[o]) && !f.marked[o] {
            return Err(format!("object {o} live at the snapshot but unmarked"));
        }
    }
    Ok(())
}

/// Every mutator operation possible in `s`.
fn ops(s: &State) -> Vec<Op> {
    let mut v = Vec::new();
    let live = |i: u8| s.slots[i as usize] != NULL;
    for dst in 1..SLOTS as u8 {
        for src in 0..SLOTS as u8 {
            for field in 0..FIELDS as u8 {
                if live(src) && s.fields[s.slots[src as usize] as usize][field as usize] != NULL {
                    v.push(Op::Load { dst, src, field });
                }
            }
        }
        if s.allocated.iter().any(|a| !a) {
            v.push(Op::Alloc { dst });
        }
        if live(dst) {
            v.push(Op::Drop { dst });
        }
    }
    for obj in 0..SLOTS as u8 {
        if !live(obj) {
            continue;
        }
        for field in 0..FIELDS as u8 {
            v.push(Op::Store {
                obj,
                field,
                val: None,
            });
            for val in 0..SLOTS as u8 {
                if live(val) {
                    v.push(Op::Store {
                        obj,
                        field,
                        val: Some(val),
                    });
                }
            }
        }
    }
    v
}

/// Applies a mutator operation (a store only starts; its atomic steps follow).
fn begin(s: &mut State, op: Op, p: Protocol) {
    s.ops_left -= 1;
    match op {
        Op::Load { dst, src, field } => {
            let o = s.slots[src as usize] as usize;
            s.slots[dst as usize] = s.fields[o][field as usize];
        }
        Op::Alloc { dst } => {
            let Some(o) = s.allocated.iter().position(|a| !a) else {
                return;
            };
            s.allocated[o] = true;
            s.fields[o] = [NULL; FIELDS];
            s.marked[o] = p.allocate_black;
            s.slots[dst as usize] = o as u8;
        }
        Op::Drop { dst } => s.slots[dst as usize] = NULL,
        Op::Store { obj, field, val } => {
            s.store = Some(InflightStore {
                obj: s.slots[obj as usize],
                field,
                value: val.map_or(NULL, |v| s.slots[v as usize]),
                stage: if p.barrier {
                    StoreStage::LoadOld
                } else {
                    StoreStage::Write
                },
            });
        }
    }
}

/// One atomic step of an in-flight `set_ref`.
fn store_step(s: &mut State, mut st: InflightStore, p: Protocol) -> StoreStage {
    let stage = st.stage;
    match stage {
        StoreStage::LoadOld => {
            st.stage = StoreStage::Log(s.fields[st.obj as usize][st.field as usize]);
            s.store = Some(st);
        }
        StoreStage::Log(old) => {
            if old != NULL {
                s.local.push(old);
                if s.local.len() >= p.local_capacity {
                    let batch = std::mem::take(&mut s.local);
                    s.queue.append(batch);
                }
            }
            st.stage = StoreStage::Write;
            s.store = Some(st);
        }
        StoreStage::Write => {
            s.fields[st.obj as usize][st.field as usize] = st.value;
            s.store = None;
        }
    }
    stage
}

/// One atomic step of marker thread `i`; false if it has nothing to do
/// (idle while another marker still scans).
fn marker_step(s: &mut State, p: Protocol, i: usize) -> bool {
    if let Some(o) = s.pending.pop() {
        if !s.marked[o as usize] {
            s.marked[o as usize] = true;
            s.gray.push(o);
        }
    } else if let Some((o, f, loaded)) = s.scan[i] {
        match loaded {
            None => s.scan[i] = Some((o, f, Some(s.fields[o as usize][f as usize]))),
            Some(c) => {
                if c != NULL && !s.marked[c as usize] {
                    s.marked[c as usize] = true;
                    s.gray.push(c);
                }
                s.scan[i] = (f as usize + 1 < FIELDS).then_some((o, f + 1, None));
            }
        }
    } else if let Some(o) = s.gray.pop() {
        s.scan[i] = Some((o, 0, None));
    } else if s.scan.iter().any(Option::is_some) {
        // Termination needs every marker idle with the pool empty.
        return false;
    } else if p.drain_queue && !s.queue.is_empty() {
        s.pending = std::mem::take(&mut s.queue);
    } else {
        s.marker_done = true;
    }
    true
}

struct Search {
    protocol: Protocol,
    /// Objects reachable at the start pause, when the SATB property is checked.
    snapshot_live: Option<[bool; OBJS]>,
    /// FxHash (`rustc-hash`): millions of small states are hashed and
    /// SipHash's DoS resistance buys nothing here.
    visited: FxHashSet<State>,
    finishes_checked: usize,
}

impl Search {
    fn dfs(&mut self, s: State, trace: &mut Vec<Step>) -> Result<(), String> {
        if !self.visited.insert(s.clone()) {
            return Ok(());
        }
        let p = self.protocol;
        if s.marker_done && s.store.is_none() {
            self.finishes_checked += 1;
            check_finish(&s, p, self.snapshot_live.as_ref())
                .map_err(|e| format!("{e}; schedule: {trace:?}"))?;
        }
        if !s.marker_done {
            for i in 0..p.markers {
                let mut n = s.clone();
                if marker_step(&mut n, p, i) {
                    trace.push(Step::Marker(i as u8));
                    self.dfs(n, trace)?;
                    trace.pop();
                }
            }
        }
        if let Some(st) = s.store {
            let mut n = s.clone();
            let stage = store_step(&mut n, st, p);
            trace.push(Step::Mutator(stage));
            self.dfs(n, trace)?;
            trace.pop();
        } else if s.ops_left > 0 {
            for op in ops(&s) {
                let mut n = s.clone();
                begin(&mut n, op, p);
                trace.push(Step::Begin(op));
                self.dfs(n, trace)?;
                trace.pop();
            }
        }
        Ok(())
    }
}

/// Explores every schedule of up to `ops` mutator operations against the
/// marker; returns (states visited, finish pauses checked) or the first
/// counterexample. `satb` adds the SATB property to the safety property.
fn explore(protocol: Protocol, ops: u8, satb: bool) -> Result<(usize, usize), String> {
    let s = initial(ops);
    let snapshot_live = satb.then(|| reachable(&s, s.slots));
    let mut search = Search {
        protocol,
        snapshot_live,
        visited: FxHashSet::default(),
        finishes_checked: 0,
    };
    search.dfs(s, &mut Vec::new())?;
    Ok((search.visited.len(), search.finishes_checked))
}

#[test]
fn real_protocol_never_frees_a_reachable_object() {
    // Capacity 1 flushes on every logged store, 2 flushes some mid-cycle and
    // leaves some for the finish pause.
    for local_capacity in [1, 2] {
        let p = Protocol {
            local_capacity,
            ..REAL
        };
        let (states, finishes) = explore(p, 4, true).unwrap_or_else(|e| panic!("{p:?}: {e}"));
        eprintln!("SATB model, local buffer {local_capacity}: {states} states, {finishes} finish pauses checked");
        assert!(states > 100_000, "{states}");
    }
}

#[test]
fn real_protocol_is_safe_with_two_markers_sharing_the_gray_pool() {
    // The concurrent plan with `threads > 1` traces with several workers;
    // each follows the same per-object protocol, racing the mutator and
    // each other for gray objects and mark bits.
    let p = Protocol { markers: 2, ..REAL };
    let (states, finishes) = explore(p, 3, true).unwrap_or_else(|e| panic!("{p:?}: {e}"));
    eprintln!("SATB model, two markers: {states} states, {finishes} finish pauses checked");
    assert!(states > 100_000, "{states}");
}

#[test]
fn root_rescan_at_finish_is_only_insurance() {
    // With SATB and black allocation every root at the finish pause is
    // already marked, so the protocol stays safe without the rescan.
    let p = Protocol {
        rescan_roots: false,
        ..REAL
    };
    explore(p, 4, true).unwrap_or_else(|e| panic!("{p:?}: {e}"));
}

#[test]
fn checker_finds_the_bug_without_the_barrier() {
    let p = Protocol {
        barrier: false,
        ..REAL
    };
    let e = explore(p, 4, false).expect_err("a lost object");
    assert!(e.contains("reachable from the roots"), "{e}");
    eprintln!("no barrier: {e}");
}

#[test]
fn checker_finds_the_bug_with_white_allocation() {
    let p = Protocol {
        allocate_black: false,
        ..REAL
    };
    let e = explore(p, 4, false).expect_err("a lost object");
    assert!(e.contains("reachable from the roots"), "{e}");
    eprintln!("white allocation: {e}");
}

#[test]
fn checker_finds_the_bug_without_draining_the_log() {
    let p = Protocol {
        drain_queue: false,
        ..REAL
    };
    let e = explore(p, 4, false).expect_err("a lost object");
    assert!(e.contains("reachable from the roots"), "{e}");
    eprintln!("no log drain: {e}");
}
