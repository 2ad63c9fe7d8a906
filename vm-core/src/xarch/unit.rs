//! Function-level translation units: discover the blocks reachable from a
//! set of entry points, work out which blocks need the guest flags on entry,
//! and lift every block into IR with one frontend.
//!
//! A unit is what the cross-architecture backends compile as a whole
//! (like an AOT translation of a code object): blocks branch to each other
//! directly, and control leaving the unit returns to the caller.

/// `clone_from` for entry lists that reuses the string buffers.
trait CloneEntries {
    fn clone_from_slice_or_vec(&mut self, src: &[(String, u64)]);
}

impl CloneEntries for Vec<(String, u64)> {
    fn clone_from_slice_or_vec(&mut self, src: &[(String, u64)]) {
        self.truncate(src.len());
        for (d, s) in self.iter_mut().zip(src) {
            d.0.clone_from(&s.0);
            d.1 = s.1;
        }
        let n = self.len();
        self.extend_from_slice(&src[n..]);
    }
}

use crate::frontend::{
    BlockIndex, BlockScan, CodeImage, Discovery, EarlyLift, FlagUse, Frontend, ScanList,
    TranslateError,
};
use crate::ir::dense::{mark_dead_and_last_use, mark_last_use_deferred, UnitOps};
use crate::ir::{TranslationUnit, UnitBlock};

/// Reusable state of unit translation: scan buffers, the pc index and
/// the unit's op buffer (QEMU keeps one TCG context per thread for the
/// same reason: allocation would otherwise cost as much as translating).
pub struct UnitTranslator<F: Frontend> {
    fe: F,
    /// Discovery's block index; it becomes the unit's `index`.
    blocks_at: BlockIndex,
    scans: ScanList,
    all: Vec<F::Insn>,
    work: Vec<u64>,
    live_in: Vec<bool>,
    ops: UnitOps,
    early: Vec<EarlyLift>,
    blocks: Vec<UnitBlock>,
    entries: Vec<(String, u64)>,
    targets: Vec<usize>,
    last_use: Vec<u32>,
    last_use_base: Vec<usize>,
}

impl<F: Frontend> UnitTranslator<F> {
    /// A translator around frontend `fe`.
    pub fn new(fe: F) -> Self {
        Self {
            fe,
            blocks_at: BlockIndex::default(),
            scans: Vec::new(),
            all: Vec::new(),
            work: Vec::new(),
            live_in: Vec::new(),
            ops: UnitOps::default(),
            early: Vec::new(),
            blocks: Vec::new(),
            entries: Vec::new(),
            targets: Vec::new(),
            last_use: Vec::new(),
            last_use_base: Vec::new(),
        }
    }

    /// Gives a unit's allocations back for the next translation.
    pub fn recycle(&mut self, unit: TranslationUnit) {
        let TranslationUnit {
            blocks,
            ops,
            consts,
            index,
            last_use,
            last_use_base,
            entries,
            indirect_targets,
            ..
        } = unit;
        self.entries = entries;
        self.targets = indirect_targets;
        self.last_use = last_use;
        self.last_use_base = last_use_base;
        self.ops = UnitOps { ops, consts };
        self.blocks = blocks;
        self.blocks_at = index;
    }

    /// Translates every block reachable from `entries`.
    pub fn translate(
        &mut self,
        img: &CodeImage,
        entries: &[(String, u64)],
    ) -> Result<TranslationUnit, TranslateError> {
        let blocks_at = &mut self.blocks_at;
        blocks_at.reset(img.base, img.bytes.len());
        let scans = &mut self.scans;
        let all = &mut self.all;
        let work = &mut self.work;
        scans.clear();
        all.clear();
        work.clear();
        work.extend(entries.iter().map(|e| e.1));
        let mut ops = std::mem::take(&mut self.ops);
        ops.clear();
        let early = &mut self.early;
        early.clear();
        // Frontends that can lift while they discover do (one decode per
        // instruction); on any error the unit is redone the separate way,
        // which reports errors in the order it always did.
        let fused = self
            .fe
            .discover_and_lift(
                img,
                &mut Discovery::new(blocks_at, scans, all, work),
                &mut ops,
                early,
            )
            .unwrap_or_else(|_| {
                blocks_at.reset(img.base, img.bytes.len());
                scans.clear();
                all.clear();
                work.clear();
                work.extend(entries.iter().map(|e| e.1));
                ops.clear();
                early.clear();
                false
            });
        if !fused {
            self.fe
                .discover(img, &mut Discovery::new(blocks_at, scans, all, work))?;
        }
        // Backward liveness of the flags to a fixpoint: live_in = ReadFirst,
        // or pass-through and live on some flag-carrying successor edge.
        let n = scans.len();
        let live_in = &mut self.live_in;
        live_in.clear();
        live_in.resize(n, false);
        let mut changed = true;
        while changed {
            changed = false;
            for i in (0..n).rev() {
                let s = &scans[i].1;
                let v = match s.flags {
                    Some(FlagUse::ReadFirst) => true,
                    Some(FlagUse::WriteFirst) => false,
                    _ => live_out(s, blocks_at, live_in),
                };
                if v != live_in[i] {
                    live_in[i] = v;
                    changed = true;
                }
            }
        }
        let mut indirect_targets = std::mem::take(&mut self.targets);
        indirect_targets.clear();
        indirect_targets.extend(entries.iter().filter_map(|e| blocks_at.get(e.1)));
        for (_, scan, _) in scans.iter() {
            for s in scan.succs.iter().filter(|s| !s.carries_flags) {
                if let Some(j) = blocks_at.get(s.pc) {
                    indirect_targets.push(j);
                }
            }
        }
        indirect_targets.sort_unstable();
        indirect_targets.dedup();
        let mut blocks = std::mem::take(&mut self.blocks);
        blocks.clear();
        blocks.reserve(n);
        let mut guest_insns = 0;
        let mut last_use = std::mem::take(&mut self.last_use);
        let mut last_use_base = std::mem::take(&mut self.last_use_base);
        last_use.clear();
        last_use_base.clear();
        if early.is_empty() {
            for (pc, scan, range) in scans.iter() {
                let lo = live_out(scan, blocks_at, live_in);
                let insns = &all[range.clone()];
                let (start, consts_start) = (ops.ops.len(), ops.consts.len());
                let l = self.fe.lift_block_into(*pc, insns, lo, &mut ops)?;
                let end = ops.ops.len();
                // The lifters already forward globals and fold immediates, so
                // only the backward dead-code pass pays off here; it also yields
                // the last uses the backends allocate registers with.
                let base = last_use.len();
                last_use_base.push(base);
                last_use.resize(base + l.num_temps as usize, 0);
                dead_code_pass::<F>(&mut ops.ops[start..end], &l.term, &mut last_use[base..]);
                guest_insns += insns.len() as u64;
                blocks.push(UnitBlock {
                    pc: *pc,
                    insn_count: insns.len() as u32,
                    num_temps: l.num_temps,
                    start: start as u32,
                    end: end as u32,
                    consts_start: consts_start as u32,
                    consts_end: ops.consts.len() as u32,
                    term: l.term,
                });
            }
        } else {
            // Blocks lifted during discovery (`early` has one per scan).
            for (k, ((pc, scan, range), e)) in scans.iter().zip(early.iter()).enumerate() {
                let insns = &all[range.clone()];
                // The lifted block is read by reference: copying it into a
                // tuple or struct went through the stack in pieces that
                // stalled on their stores.
                let fresh;
                let (start, end, consts_start, consts_end, num_temps, term) =
                    if !(e.flags_pending && live_out(scan, blocks_at, live_in)) {
                        // Right as it is: either the flags are dead at its
                        // end or storing them adds nothing.
                        (
                            e.start as usize,
                            e.end as usize,
                            e.consts_start,
                            e.consts_end,
                            e.lifted.num_temps,
                            &e.lifted.term,
                        )
                    } else {
                        // The block with its flag stores, appended (its
                        // records copied and the stores added, or lifted
                        // again); the early records stay in the buffer,
                        // dead.
                        let (start, consts_start) = (ops.ops.len(), ops.consts.len());
                        fresh = match self.fe.store_early_flags(k, insns, e, &mut ops)? {
                            Some(num_temps) => crate::frontend::LiftedBlock {
                                num_temps,
                                term: e.lifted.term,
                            },
                            None => self.fe.lift_block_into(*pc, insns, true, &mut ops)?,
                        };
                        for op in &mut ops.ops[e.start as usize..e.end as usize] {
                            op.kind = crate::ir::dense::kind::NOP;
                        }
                        let (end, consts_end) = (ops.ops.len(), ops.consts.len());
                        let c = (consts_start as u32, consts_end as u32);
                        (start, end, c.0, c.1, fresh.num_temps, &fresh.term)
                    };
                let base = last_use.len();
                last_use_base.push(base);
                last_use.resize(base + num_temps as usize, 0);
                dead_code_pass::<F>(&mut ops.ops[start..end], term, &mut last_use[base..]);
                guest_insns += insns.len() as u64;
                blocks.push(UnitBlock {
                    pc: *pc,
                    insn_count: insns.len() as u32,
                    num_temps,
                    start: start as u32,
                    end: end as u32,
                    consts_start,
                    consts_end,
                    term: *term,
                });
            }
        }
        // Discovery's index is the unit's pc index (block i = scan i).
        let index = std::mem::take(&mut self.blocks_at);
        Ok(TranslationUnit {
            blocks,
            ops: ops.ops,
            consts: ops.consts,
            index,
            entries: {
                // Reuses the previous unit's strings when the entries repeat.
                let mut e = std::mem::take(&mut self.entries);
                e.clone_from_slice_or_vec(entries);
                e
            },
            guest_insns,
            indirect_targets,
            last_use,
            last_use_base,
        })
    }
}

/// Translates every block reachable from `entries` (a one-off
/// [`UnitTranslator`]).
pub fn translate_unit<F: Frontend + Clone>(
    fe: &mut F,
    img: &CodeImage,
    entries: &[(String, u64)],
) -> Result<TranslationUnit, TranslateError> {
    UnitTranslator::new(fe.clone()).translate(img, entries)
}

/// The dead-code + last-use pass for a block of frontend `F`.
#[inline]
fn dead_code_pass<F: Frontend>(
    ops: &mut [crate::ir::dense::UnitOp],
    term: &crate::ir::Terminator,
    lu: &mut [u32],
) {
    if F::DEFERS_SETS {
        mark_last_use_deferred(ops, term, lu);
    } else {
        mark_dead_and_last_use(ops, term, lu);
    }
}

fn live_out(s: &BlockScan, index: &BlockIndex, live_in: &[bool]) -> bool {
    s.succs
        .iter()
        .filter(|e| e.carries_flags)
        .any(|e| index.get(e.pc).is_none_or(|j| live_in[j]))
}

/// Function symbols (name, address) of a linked ELF, and its loadable
/// bytes as a `CodeImage` (all PT_LOAD segments, gaps zero-filled).
pub fn load_elf_image(elf: &[u8]) -> Result<(CodeImage, Vec<(String, u64)>), TranslateError> {
    use object::{Object, ObjectSegment, ObjectSymbol, SymbolKind};
    // The ELF reader wants 8-byte aligned headers; `include_bytes!` data is not.
    let mut aligned = vec![0u64; elf.len().div_ceil(8)];
    // SAFETY: the u64 buffer spans at least `elf.len()` initialized bytes.
    let bytes8 =
        unsafe { std::slice::from_raw_parts_mut(aligned.as_mut_ptr() as *mut u8, elf.len()) };
    bytes8.copy_from_slice(elf);
    let elf: &[u8] = bytes8;
    let file = object::File::parse(elf).map_err(|e| TranslateError::Image(e.to_string()))?;
    let mut lo = u64::MAX;
    let mut hi = 0u64;
    for seg in file.segments() {
        if seg.size() == 0 {
            continue;
        }
        lo = lo.min(seg.address());
        hi = hi.max(seg.address() + seg.size());
    }
    if lo >= hi || hi - lo > (64 << 20) {
        return Err(TranslateError::Image("no loadable segments".into()));
    }
    let mut bytes = vec![0u8; (hi - lo) as usize];
    for seg in file.segments() {
        let data = seg
            .data()
            .map_err(|e| TranslateError::Image(e.to_string()))?;
        let off = (seg.address() - lo) as usize;
        bytes[off..off + data.len()].copy_from_slice(data);
    }
    let mut syms: Vec<(String, u64)> = file
        .symbols()
        .filter(|s| s.kind() == SymbolKind::Text && s.size() > 0)
        .filter_map(|s| Some((s.name().ok()?.to_string(), s.address())))
        .collect();
    syms.sort_by_key(|s| s.1);
    Ok((CodeImage { base: lo, bytes }, syms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::aarch64::A64Frontend;
    use crate::frontend::x86_64::X86Frontend;
    use crate::ir::dense::{mark_last_use_deferred, to_ir_block, to_ir_ops};
    use crate::ir::IrBlock;
    use crate::xarch::inputs::{load_input, AARCH64_ELF, X86_64_ELF};

    /// A call to an address outside the image leaves the unit instead of
    /// failing the translation; the return site is still translated.
    #[test]
    fn jumps_outside_the_image_become_unit_exits() {
        // call 0x10_0000 (far outside) ; ret
        let img = CodeImage {
            base: 0x1000,
            bytes: vec![0xe8, 0xfb, 0xef, 0x0f, 0x00, 0xc3],
        };
        let entries = vec![("f".to_string(), 0x1000)];
        let unit = translate_unit(&mut X86Frontend::default(), &img, &entries).unwrap();
        assert_eq!(unit.blocks.len(), 2);
        assert!(unit.index.contains(0x1005));
        let code = crate::backend::aarch64::compile(&unit).unwrap();
        assert!(code.code_len > 0);
        // An entry outside the image is still an error.
        let bad = vec![("g".to_string(), 0x9000)];
        assert_eq!(
            translate_unit(&mut X86Frontend::default(), &img, &bad).unwrap_err(),
            TranslateError::OutOfImage { pc: 0x9000 }
        );
    }

    /// The dense dead-code pass keeps exactly what `opt::eliminate_dead`
    /// keeps, and its last uses match a forward scan of the result, on
    /// every block of both committed units (so on each of the pass's
    /// paths: forward exact, unread definitions removed, backward).
    #[test]
    fn dense_dead_code_pass_matches_the_optimizer() {
        fn check<F: Frontend + Clone>(fe: &mut F, elf: &[u8]) -> usize {
            let mut deferred_blocks = 0;
            let input = load_input(elf).unwrap();
            let unit = translate_unit(fe, &input.image, &input.symbols).unwrap();
            let mut all = Vec::new();
            for pc in unit.blocks.iter().map(|b| b.pc) {
                let start = all.len();
                fe.scan_block(&input.image, pc, &mut all).unwrap();
                let insns = &all[start..];
                let loc = |i: u32| F::insn_loc(&insns[i as usize], i);
                for live in [false, true] {
                    let mut buf = UnitOps::default();
                    // With live-out flags, blocks ending in unmodeled flags
                    // are rejected (covered elsewhere); skip those.
                    let Ok(l) = fe.lift_block_into(pc, insns, live, &mut buf) else {
                        assert!(live);
                        continue;
                    };
                    let n = insns.len() as u32;
                    let (ops, consts) = (&mut buf.ops, &buf.consts);
                    let mut want = to_ir_block(pc, n, l.num_temps, ops, consts, l.term, loc);
                    crate::opt::eliminate_dead(&mut want);
                    let mut lu = vec![0u32; l.num_temps as usize];
                    let (mut ops2, mut lu2) = (ops.clone(), lu.clone());
                    mark_dead_and_last_use(ops, &l.term, &mut lu);
                    if F::DEFERS_SETS {
                        // The last-use-only pass of deferred blocks
                        // gives the same records and last uses.
                        mark_last_use_deferred(&mut ops2, &l.term, &mut lu2);
                        assert_eq!((&ops2, &lu2), (&*ops, &lu), "block {pc:#x}");
                        deferred_blocks += 1;
                    }
                    // Constants nothing reads are dead too (they emit no code).
                    let got = IrBlock {
                        ops: to_ir_ops(ops, consts, l.num_temps, |k| lu[k.dst as usize] != 0, loc),
                        ..want.clone()
                    };
                    assert_eq!(got, want, "block {pc:#x}");
                    // Last uses: 1 + index among all records (dead ones included).
                    let mut want_lu = vec![0u32; l.num_temps as usize];
                    for (i, op) in ops.iter().enumerate() {
                        if let Some(op) = op.to_ir(loc) {
                            op.for_each_use(|t| want_lu[t as usize] = i as u32 + 1);
                        }
                    }
                    l.term
                        .for_each_use(|t| want_lu[t as usize] = ops.len() as u32 + 1);
                    want_lu[0] = lu[0]; // the absent operand collects every mark
                    assert_eq!(lu, want_lu, "block {pc:#x}");
                }
            }
            deferred_blocks
        }
        assert!(check(&mut X86Frontend::default(), X86_64_ELF) > 0);
        check(&mut A64Frontend::default(), AARCH64_ELF);
    }
}
