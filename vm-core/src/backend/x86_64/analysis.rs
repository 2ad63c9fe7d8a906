//! Analysis before lowering: temp liveness (last use), self-loop
//! detection with the guest registers carried around the loop (and
//! whether their writes can be deferred to the exits), and the softmmu
//! plan of which accesses share one TLB probe.

use dynasmrt::VecAssembler;

use super::backend::Scratch;
use super::lower::Codegen;
use super::regalloc::Loc;
use crate::ir::{IrBlock, IrOp, Temp, Terminator};
use crate::state::NUM_GLOBALS;

/// How the softmmu translates one memory op of a block.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum AccessPlan {
    /// Its own TLB probe.
    Own,
    /// First of a run of same-kind accesses through the same address temp:
    /// one probe covers `[addr + lo, addr + lo + len)`.
    Head { lo: i32, len: u32 },
    /// Covered by its run's head probe (r15 already holds the addend).
    Covered,
}

/// Longest byte range one probe may cover for a run of accesses.
pub(super) const MAX_RUN_BYTES: i64 = 256;

/// Groups the block's loads and stores into runs that share one TLB probe:
/// consecutive memory ops (other ops may sit between them, none touch r15)
/// of the same kind through the same non-constant address temp whose byte
/// ranges together span at most `MAX_RUN_BYTES`. The head's probe checks
/// the whole range, so the run's pages and permissions are verified before
/// its first access; if the probe declines (miss the handler cannot serve,
/// range crossing a page), only the head is replayed and the rest of the
/// block runs as a new block with its own probes, keeping faults precise.
pub(super) fn access_plans(b: &IrBlock, plans: &mut Vec<AccessPlan>) {
    access_runs(b, plans, true);
}

/// [`access_plans`], with runs through constant addresses left out only
/// if `skip_const` (flat mode groups them too and lets the lowering check
/// each such access on its own: no per-temp table to allocate).
pub(super) fn access_runs(b: &IrBlock, plans: &mut Vec<AccessPlan>, skip_const: bool) {
    plans.clear();
    plans.resize(b.ops.len(), AccessPlan::Own);
    let mut is_const = vec![false; if skip_const { b.num_temps as usize } else { 0 }];
    // (head index, addr, is_store, lo, hi)
    let mut run: Option<(usize, Temp, bool, i64, i64)> = None;
    for (i, op) in b.ops.iter().enumerate() {
        let (addr, off, width, store) = match *op {
            IrOp::Const { dst, .. } => {
                if skip_const {
                    is_const[dst as usize] = true;
                }
                continue;
            }
            IrOp::Load {
                addr, off, width, ..
            } => (addr, off, width, false),
            IrOp::Store {
                addr, off, width, ..
            } => (addr, off, width, true),
            IrOp::SideExit { .. } => {
                // A run's head checks only accesses that run whenever it
                // does: none past a side exit. One taken there may well
                // guard them (a loop's bounds test), and a head whose
                // check fails for an access the exit skips would be
                // replayed, correctly but slowly, on every such pass.
                run = None;
                continue;
            }
            _ => continue,
        };
        let (lo, hi) = (off as i64, off as i64 + width.bytes() as i64);
        if let Some((head, ra, rs, rlo, rhi)) = run {
            let (nlo, nhi) = (rlo.min(lo), rhi.max(hi));
            if ra == addr && rs == store && nhi - nlo <= MAX_RUN_BYTES {
                plans[i] = AccessPlan::Covered;
                plans[head] = AccessPlan::Head {
                    lo: nlo as i32,
                    len: (nhi - nlo) as u32,
                };
                run = Some((head, ra, rs, nlo, nhi));
                continue;
            }
        }
        run = (!skip_const || !is_const[addr as usize]).then_some((i, addr, store, lo, hi));
    }
}

/// At most this many globals are carried in registers around a self-loop,
/// leaving the rest of the pool for temporaries.
pub(super) const MAX_CARRIED: usize = 5;

/// Whether `b` ends by jumping back to its own first instruction.
pub(super) fn is_self_loop(b: &IrBlock) -> bool {
    match b.term {
        Terminator::Jump(t) => t == b.pc,
        Terminator::Branch { taken, .. } => taken == b.pc,
        _ => false,
    }
}

/// Globals read before being written in `b` (values that flow around a
/// self-loop), with the temp read at the head and the temp holding the
/// global's value at the end of the block.
pub(super) fn loop_carried(b: &IrBlock, out: &mut Vec<(u8, Temp, Temp)>) {
    let mut first: [Option<Temp>; NUM_GLOBALS] = [None; NUM_GLOBALS];
    let mut written = 0u64;
    let mut last: [Option<Temp>; NUM_GLOBALS] = [None; NUM_GLOBALS];
    let mut order = Vec::new();
    for op in &b.ops {
        match *op {
            IrOp::GetGlobal { dst, g }
                if written & (1 << g) == 0 && first[g as usize].is_none() =>
            {
                first[g as usize] = Some(dst);
                order.push(g);
            }
            IrOp::SetGlobal { g, src } => {
                written |= 1 << g;
                last[g as usize] = Some(src);
            }
            _ => {}
        }
    }
    out.clear();
    out.extend(order.into_iter().take(MAX_CARRIED).map(|g| {
        let head = first[g as usize].expect("recorded");
        (g, head, last[g as usize].unwrap_or(head))
    }));
}

/// Whether every global in `carried` is read exactly once in `b` (by its
/// head temp): then its writes can be kept in registers until the block is
/// left, since no later read would see the stale CPU-state slot.
pub(super) fn deferrable(b: &IrBlock, carried: &[(u8, Temp, Temp)]) -> bool {
    let mut mask = 0u64;
    for &(g, _, _) in carried {
        mask |= 1 << g;
    }
    let mut reads = [0u8; NUM_GLOBALS];
    for op in &b.ops {
        if let IrOp::GetGlobal { g, .. } = *op {
            if mask & (1 << g) != 0 {
                reads[g as usize] += 1;
            }
        }
    }
    carried.iter().all(|&(g, _, _)| reads[g as usize] == 1)
}

impl<'b> Codegen<'b> {
    // Inlined into `X64Backend::analyze` (and that into `lower`), so the
    // state is built where it is used instead of being returned by copy.
    #[inline(always)]
    pub(super) fn new(
        b: &'b IrBlock,
        base: usize,
        exit: usize,
        region_base: usize,
        s: &'b mut Scratch,
    ) -> Self {
        let n = b.num_temps as usize;
        let Scratch {
            asm,
            code: _,
            loc,
            last_use,
            home,
            faults,
            chains,
            wb,
            quantum_stubs,
            carried,
            misses,
            plans,
            range,
            slot_stubs,
            loop_slots,
            holder,
            cur_val,
            fixups,
        } = s;
        let mut asm = std::mem::replace(asm, VecAssembler::new(0));
        asm.reserve_ops(b.ops.len() * 16 + 160);
        holder.fill(None);
        cur_val.fill(None);
        wb.clear();
        quantum_stubs.clear();
        carried.clear();
        misses.clear();
        plans.clear();
        slot_stubs.clear();
        loop_slots.clear();
        faults.clear();
        chains.clear();
        // A temp's last use defaults to its definition, so unused results die at once.
        last_use.clear();
        last_use.resize(n, 0);
        loc.clear();
        loc.resize(n, Loc::None);
        range.clear();
        range.resize(n, 0);
        home.clear();
        home.resize(n, None);
        let last_use = &mut last_use[..];
        let mut segments = 1u32;
        let mut seg_ends = [0u32; 8];
        // One match per op: the op kind is an unpredictable branch, and
        // `for_each_use` followed by `dst` would take it twice. Temps are
        // defined once, before their uses, so a definition simply starts
        // its temp's range.
        for (i, op) in b.ops.iter().enumerate() {
            let i = i as u32;
            match *op {
                IrOp::Const { dst, .. } | IrOp::GetGlobal { dst, .. } => last_use[dst as usize] = i,
                IrOp::SetGlobal { src, .. } => last_use[src as usize] = i,
                IrOp::Bin { dst, a, b, .. } | IrOp::SetCond { dst, a, b, .. } => {
                    last_use[a as usize] = i;
                    last_use[b as usize] = i;
                    last_use[dst as usize] = i;
                }
                IrOp::Un { dst, a, .. } | IrOp::Load { dst, addr: a, .. } => {
                    last_use[a as usize] = i;
                    last_use[dst as usize] = i;
                }
                IrOp::Store { addr, src, .. } => {
                    last_use[addr as usize] = i;
                    last_use[src as usize] = i;
                }
                IrOp::SideExit { a, b, index, .. } => {
                    last_use[a as usize] = i;
                    last_use[b as usize] = i;
                    if (segments as usize) < seg_ends.len() {
                        seg_ends[segments as usize - 1] = index + 1;
                    }
                    segments += 1;
                }
            }
        }
        let end = b.ops.len() as u32;
        b.term.for_each_use(|t| last_use[t as usize] = end);
        if is_self_loop(b) {
            loop_carried(b, carried);
        }
        for &(_, _, tail) in carried.iter() {
            // The value flows into the next iteration: keep it to the end.
            last_use[tail as usize] = end;
        }
        let mut deferred = 0u64;
        // Only globals the loop writes need deferring; read-only ones keep
        // their (never stale) CPU-state slot as a free eviction target.
        let mut written = [(0u8, 0 as Temp, 0 as Temp); MAX_CARRIED];
        let mut nw = 0;
        for &(g, head, tail) in carried.iter() {
            if head != tail {
                written[nw] = (g, head, tail);
                nw += 1;
            }
        }
        let written = &written[..nw];
        if !written.is_empty() && deferrable(b, written) {
            for &(g, head, _) in written {
                deferred |= 1 << g;
                // The current value of a deferred global must survive
                // every exit taken before it is replaced: those write it
                // back. Only loads, stores and side exits leave the body, so
                // the value may die at its last real use when no memory
                // op comes between that and the replacing write (then the
                // new value can take over its register).
                let mut cur = head;
                let mut since = 0;
                let mut last_exit = None;
                for (i, op) in b.ops.iter().enumerate() {
                    match *op {
                        IrOp::Load { .. } | IrOp::Store { .. } | IrOp::SideExit { .. } => {
                            last_exit = Some(i as u32)
                        }
                        IrOp::SetGlobal { g: sg, src } if sg == g => {
                            if let Some(e) = last_exit.filter(|&e| e >= since) {
                                last_use[cur as usize] = last_use[cur as usize].max(e);
                            }
                            cur = src;
                            since = i as u32;
                        }
                        _ => {}
                    }
                }
                last_use[cur as usize] = end;
            }
        }
        Self {
            b,
            asm,
            loc,
            last_use,
            home,
            range,
            holder,
            cur_val,
            faults,
            chains,
            wb,
            quantum_stubs,
            carried,
            misses,
            plans,
            slot_stubs,
            loop_slots,
            fixups,
            base,
            exit,
            region_base,
            reg_temp: [None; 16],
            pinned: 0,
            free_slots: u64::MAX,
            sites: Vec::new(),
            cur: 0,
            body: None,
            head_regs: [0; MAX_CARRIED],
            tail_regs: [(0, 0); MAX_CARRIED],
            n_tails: 0,
            reserved: 0,
            held: 0,
            host_base: None,
            indexed_load: None,
            fused: None,
            deferred,
            softmmu: None,
            byte_masked: None,
            map_checks: Vec::new(),
            side_exits: Vec::new(),
            ext_copied: None,
            segments,
            segs_done: 0,
            head_slow: None,
            // A superblock that is no self-loop counts its basic blocks as
            // they start, so that its side exits jump straight to their
            // targets (see `Codegen::direct_exits`).
            direct_exits: segments > 1 && (segments as usize) <= seg_ends.len() && !is_self_loop(b),
            seg_ends: {
                if (segments as usize) <= seg_ends.len() {
                    seg_ends[segments as usize - 1] = b.insn_count;
                }
                seg_ends
            },
        }
    }
}
