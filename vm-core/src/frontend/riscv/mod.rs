//! RV64IM frontend: instruction decoding, basic-block discovery and
//! translation to IR.

pub mod decode;
pub mod encode;
pub mod translate;

pub use decode::{decode, is_straight_line_block, DecodeError, Inst, Lowering, Op};
pub use encode::encode;
pub use translate::translate_block;
