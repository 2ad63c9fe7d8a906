//! RV64IMC frontend: instruction decoding, basic-block discovery and
//! translation to IR.

pub mod compressed;
pub mod decode;
pub mod encode;
pub mod translate;

pub use compressed::{decode_compressed, decode_parcel, insn_len};
pub use decode::{decode, is_straight_line_block, DecodeError, Inst, Lowering, Op};
pub use encode::encode;
pub use translate::{translate_block, translate_superblock};
