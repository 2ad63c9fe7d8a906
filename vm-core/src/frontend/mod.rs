//! Guest frontends: decode guest machine code and translate it into the
//! guest-independent IR ([`crate::ir`]). Each guest architecture lives in
//! its own submodule.
//!
//! This module also holds the interface the cross-architecture frontends
//! (x86-64, AArch64) share: [`Frontend`] scans and lifts whole blocks,
//! [`Discovery`] is the block-discovery state of one translation unit
//! (driven by [`crate::xarch::unit::UnitTranslator`]), [`TranslateError`]
//! says why guest code could not be translated.

pub mod aarch64;
pub mod flags;
pub mod riscv;
pub mod x86_64;

use crate::ir::dense::{to_ir_block, UnitBuilder, UnitOps};
pub use crate::ir::BlockIndex;
use crate::ir::{GuestLoc, IrBlock, Terminator};

/// Why a guest function could not be translated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    /// The instruction is outside the lifted subset; nothing is emitted for
    /// it rather than something wrong.
    #[error("unsupported instruction at {pc:#x}: {mnemonic}")]
    Unsupported {
        /// Guest pc.
        pc: u64,
        /// Mnemonic (with a short reason where the mnemonic alone is supported).
        mnemonic: String,
    },
    /// The bytes at `pc` do not decode.
    #[error("undecodable instruction at {pc:#x}")]
    Invalid {
        /// Guest pc.
        pc: u64,
    },
    /// Control reaches a pc outside the code image.
    #[error("pc {pc:#x} is outside the code image")]
    OutOfImage {
        /// Guest pc.
        pc: u64,
    },
    /// The guest image is malformed (ELF parsing, missing symbol).
    #[error("bad guest image: {0}")]
    Image(String),
}

/// Guest code bytes at a guest address.
#[derive(Debug, Clone)]
pub struct CodeImage {
    /// Guest address of `bytes[0]`.
    pub base: u64,
    /// Code (and read-only data) bytes.
    pub bytes: Vec<u8>,
}

impl CodeImage {
    /// The bytes from `pc` to the end of the image.
    pub fn at(&self, pc: u64) -> Result<&[u8], TranslateError> {
        let off = pc
            .checked_sub(self.base)
            .filter(|&o| o < self.bytes.len() as u64)
            .ok_or(TranslateError::OutOfImage { pc })?;
        Ok(&self.bytes[off as usize..])
    }
}

/// How a block uses the guest flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagUse {
    /// Reads them before any write: they are live on entry.
    ReadFirst,
    /// Writes them before any read.
    WriteFirst,
    /// Neither: liveness passes through.
    None,
}

/// A control-flow successor found by scanning a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Successor {
    /// Guest pc.
    pub pc: u64,
    /// Whether the flags flow along this edge (false for call targets and
    /// return sites: the ABIs do not preserve flags across calls).
    pub carries_flags: bool,
}

/// At most two static successors (branch target and fallthrough, or call
/// target and return site), stored inline.
#[derive(Debug, Clone, Copy, Default)]
pub struct Succs {
    items: [Option<Successor>; 2],
}

impl Succs {
    /// Adds a successor (a third one would be a frontend bug and is dropped
    /// only after a debug assertion).
    pub fn push(&mut self, s: Successor) {
        if self.items[0].is_none() {
            self.items[0] = Some(s);
        } else {
            debug_assert!(self.items[1].is_none(), "more than two successors");
            self.items[1] = Some(s);
        }
    }
    /// The successors.
    pub fn iter(&self) -> impl Iterator<Item = &Successor> {
        self.items.iter().flatten()
    }
}

/// Result of scanning (decoding) one block.
#[derive(Debug, Clone, Default)]
pub struct BlockScan {
    /// Static successors.
    pub succs: Succs,
    /// Flag use of the block.
    pub flags: Option<FlagUse>,
    /// Block ends in a jump to a pc computed at run time.
    pub indirect: bool,
}

/// A guest frontend that lifts whole blocks.
pub trait Frontend {
    /// A decoded guest instruction.
    type Insn: Clone;
    /// Short architecture name (for messages).
    const NAME: &'static str;
    /// Whether the lifter builds blocks with deferred global stores
    /// ([`UnitBuilder::defer_sets`]): the dead-code pass then only needs
    /// last uses ([`crate::ir::dense::mark_last_use_deferred`]).
    const DEFERS_SETS: bool = false;
    /// Decodes the block at `pc` into `out`.
    fn scan_block(
        &mut self,
        img: &CodeImage,
        pc: u64,
        out: &mut Vec<Self::Insn>,
    ) -> Result<BlockScan, TranslateError>;
    /// Lifts a scanned block, appending its dense ops and constants to
    /// `ops` (the unit's op buffer, earlier blocks kept); `flags_live_out`
    /// says whether the flags must be in their globals when the block ends.
    fn lift_block_into(
        &mut self,
        pc: u64,
        insns: &[Self::Insn],
        flags_live_out: bool,
        ops: &mut UnitOps,
    ) -> Result<LiftedBlock, TranslateError>;
    /// The guest location of instruction `index` of a block.
    fn insn_loc(insn: &Self::Insn, index: u32) -> GuestLoc;
    /// Runs the discovery of one unit (see [`Discovery::run`]); a frontend
    /// overrides it to keep decoder state across the unit's blocks.
    fn discover(
        &mut self,
        img: &CodeImage,
        d: &mut Discovery<'_, Self::Insn>,
    ) -> Result<(), TranslateError> {
        d.run(|pc, out| self.scan_block(img, pc, out))
    }
    /// Discovery that also lifts each block as it is decoded (one decode
    /// per instruction), with the flags assumed dead at every block end
    /// (flag liveness needs the whole unit): appends one [`EarlyLift`] per
    /// scanned block to `lifted` and its records to `ops`. Returns false
    /// if the frontend does not fuse the two (the default: the translator
    /// then runs [`Frontend::discover`] and lifts afterwards). On an error
    /// the translator discards everything and redoes the unit unfused, so
    /// errors are reported exactly as that path reports them.
    fn discover_and_lift(
        &mut self,
        img: &CodeImage,
        d: &mut Discovery<'_, Self::Insn>,
        ops: &mut UnitOps,
        lifted: &mut Vec<EarlyLift>,
    ) -> Result<bool, TranslateError> {
        let _ = (img, d, ops, lifted);
        Ok(false)
    }
    /// Stores the flags at the end of block `k` of a fused discovery
    /// (`early`, lifted with the flags dead at its end), whose flags turn
    /// out live there, without lifting it again: appends a copy of its
    /// records and constants, then the flag stores, to `ops` and returns
    /// the block's temp count. The result equals
    /// [`Frontend::lift_block_into`] of `insns` with `flags_live_out`.
    /// `Ok(None)` (the default): the frontend cannot, the translator lifts
    /// the block again.
    fn store_early_flags(
        &mut self,
        k: usize,
        insns: &[Self::Insn],
        early: &EarlyLift,
        ops: &mut UnitOps,
    ) -> Result<Option<u32>, TranslateError> {
        let _ = (k, insns, early, ops);
        Ok(None)
    }
    /// [`Frontend::lift_block_into`] as an [`IrBlock`] (the JIT's IR;
    /// tests and the block-at-a-time engine).
    fn lift_block(
        &mut self,
        pc: u64,
        insns: &[Self::Insn],
        flags_live_out: bool,
    ) -> Result<IrBlock, TranslateError> {
        let mut buf = UnitOps::default();
        let l = self.lift_block_into(pc, insns, flags_live_out, &mut buf)?;
        Ok(to_ir_block(
            pc,
            insns.len() as u32,
            l.num_temps,
            &buf.ops,
            &buf.consts,
            l.term,
            |i| Self::insn_loc(&insns[i as usize], i),
        ))
    }
}

/// A block [`Frontend::lift_block_into`] appended to the unit's op buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiftedBlock {
    /// Temps of the block (`1..num_temps`).
    pub num_temps: u32,
    /// Block exit.
    pub term: Terminator,
}

/// A block [`Frontend::discover_and_lift`] lifted during discovery, flags
/// not stored at its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EarlyLift {
    /// The lifted block.
    pub lifted: LiftedBlock,
    /// Its records in the unit's op buffer (`start..end`).
    pub start: u32,
    /// End of its records.
    pub end: u32,
    /// Its constants (`consts_start..consts_end`).
    pub consts_start: u32,
    /// End of its constants.
    pub consts_end: u32,
    /// Storing the flags at the block end would add records: if the flags
    /// turn out live there, the block is lifted again with the stores.
    pub flags_pending: bool,
}

impl EarlyLift {
    /// Starts the block about to be lifted into `b` (its records and
    /// constants begin at the builder's buffer ends): pushes its entry to
    /// `lifted` and returns it, for the lifter to fill in place (a lifted
    /// block moved through return values is copied in pieces that stall
    /// on the stores that wrote them).
    #[inline(always)]
    pub(crate) fn begin<'v>(b: &mut UnitBuilder, lifted: &'v mut Vec<EarlyLift>) -> &'v mut Self {
        b.next_block();
        let buf = b.buf();
        let (start, consts_start) = (buf.ops.len() as u32, buf.consts.len() as u32);
        lifted.push(EarlyLift {
            lifted: LiftedBlock {
                num_temps: 0,
                term: Terminator::Jump(0),
            },
            start,
            end: start,
            consts_start,
            consts_end: consts_start,
            flags_pending: false,
        });
        lifted.last_mut().expect("just pushed")
    }

    /// Ends the block at `pc` that [`EarlyLift::begin`] started, given the
    /// lifter's result `r`: on an error (or a builder out of temps) its
    /// entry is dropped; otherwise its temp count and record/constant ends
    /// are recorded.
    #[inline(always)]
    pub(crate) fn finish(
        b: &UnitBuilder,
        lifted: &mut Vec<EarlyLift>,
        pc: u64,
        r: Result<(), TranslateError>,
    ) -> Result<(), TranslateError> {
        if let Err(err) = r.and_then(|()| match b.overflowed() {
            true => Err(too_many_temps(pc)),
            false => Ok(()),
        }) {
            lifted.pop();
            return Err(err);
        }
        let e = lifted.last_mut().expect("begun");
        e.lifted.num_temps = b.num_temps();
        let buf = b.buf();
        e.end = buf.ops.len() as u32;
        e.consts_end = buf.consts.len() as u32;
        Ok(())
    }
}

/// Lends the unit's reused op buffer `ops` to the lifter's builder for one block, with
/// room for `reserve` more records. [`end_block`] gives it back.
#[inline]
pub(crate) fn begin_block(b: &mut UnitBuilder, ops: &mut UnitOps, reserve: usize) {
    let mut buf = std::mem::take(ops);
    buf.ops.reserve(reserve);
    b.reset(buf);
}

/// Ends the block [`begin_block`] started: the buffer goes back to `ops` whatever
/// `term` is (the unit reuses it), then the lifter's result; a block whose temps did not
/// fit the dense records is an error.
pub(crate) fn end_block(
    b: &mut UnitBuilder,
    ops: &mut UnitOps,
    pc: u64,
    term: Result<Terminator, TranslateError>,
) -> Result<LiftedBlock, TranslateError> {
    let num_temps = b.num_temps();
    let overflowed = b.overflowed();
    *ops = b.take();
    let term = term?;
    if overflowed {
        return Err(TranslateError::Unsupported {
            pc,
            mnemonic: format!(
                "block needs more than {} temporaries",
                crate::ir::dense::MAX_TEMPS
            ),
        });
    }
    Ok(LiftedBlock { num_temps, term })
}

/// The error [`end_block`] gives for a block at `pc` whose temps do not
/// fit the dense records (for lifters that end blocks themselves).
pub(crate) fn too_many_temps(pc: u64) -> TranslateError {
    TranslateError::Unsupported {
        pc,
        mnemonic: format!(
            "block needs more than {} temporaries",
            crate::ir::dense::MAX_TEMPS
        ),
    }
}

/// Scanned blocks of a unit: (pc, scan, range of its instructions).
pub type ScanList = Vec<(u64, BlockScan, std::ops::Range<usize>)>;

/// The block-discovery state of one unit translation.
pub struct Discovery<'a, I> {
    index: &'a mut BlockIndex,
    scans: &'a mut ScanList,
    all: &'a mut Vec<I>,
    work: &'a mut Vec<u64>,
}

/// Upper bound on blocks per unit (guards against runaway discovery).
const MAX_BLOCKS: usize = 1 << 16;

impl<'a, I> Discovery<'a, I> {
    /// Discovery state over the translator's buffers: `work` holds the
    /// entry pcs, the others are empty.
    pub(crate) fn new(
        index: &'a mut BlockIndex,
        scans: &'a mut ScanList,
        all: &'a mut Vec<I>,
        work: &'a mut Vec<u64>,
    ) -> Self {
        Self {
            index,
            scans,
            all,
            work,
        }
    }

    /// Scans blocks from the work list with `scan` until every block
    /// reachable inside the image is known.
    pub fn run(
        &mut self,
        mut scan: impl FnMut(u64, &mut Vec<I>) -> Result<BlockScan, TranslateError>,
    ) -> Result<(), TranslateError> {
        self.run_in_place(|pc, all, entry| {
            *entry = scan(pc, all)?;
            Ok(())
        })
    }

    /// [`Discovery::run`] for a `scan` that fills the block's [`BlockScan`]
    /// in place: a scan result returned by value is copied through the
    /// stack in pieces that the next load cannot take from the store
    /// buffer (a stall per block).
    pub fn run_in_place(
        &mut self,
        mut scan: impl FnMut(u64, &mut Vec<I>, &mut BlockScan) -> Result<(), TranslateError>,
    ) -> Result<(), TranslateError> {
        while let Some(pc) = self.work.pop() {
            if self.index.get(pc).is_some() {
                continue;
            }
            if self.scans.len() >= MAX_BLOCKS {
                return Err(TranslateError::Image(format!(
                    "more than {MAX_BLOCKS} blocks"
                )));
            }
            let start = self.all.len();
            self.scans.push((pc, BlockScan::default(), start..start));
            let i = self.scans.len() - 1;
            let entry = &mut self.scans[i];
            if let Err(e) = scan(pc, self.all, &mut entry.1) {
                self.scans.pop();
                return Err(e);
            }
            entry.2.end = self.all.len();
            for e in entry.1.succs.iter() {
                if self.index.is_new_in_image(e.pc) {
                    self.work.push(e.pc);
                }
            }
            self.index.insert(pc, i);
        }
        Ok(())
    }
}
