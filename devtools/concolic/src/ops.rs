//! Instructions of Keel's integer profile as the interpreter runs them: decoded once from
//! wasmparser's operators, with every `block`/`if`/`else` given the index of its `end`.

use crate::expr::{BinOp, CmpOp, CountKind};
use crate::module::{DecodeError, FuncType, val_type};
use wasmparser::{BlockType, Operator};

/// Operand width of a numeric instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum W {
    I32,
    I64,
}

impl W {
    pub fn bits(self) -> u32 {
        match self {
            W::I32 => 32,
            W::I64 => 64,
        }
    }
}

/// A numeric instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Num {
    Bin(W, BinOp),
    Cmp(W, CmpOp),
    Eqz(W),
    Count(W, CountKind),
    /// Sign-extend the low `bits` bits in place.
    ExtendS(W, u32),
    Wrap,
    ExtendI32 {
        signed: bool,
    },
}

/// A load: access size in bytes, whether it sign-extends, the result width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub bytes: u32,
    pub signed: bool,
    pub w: W,
    pub offset: u64,
}

/// A block's shape: values it takes and gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub params: u32,
    pub results: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Unreachable,
    Nop,
    Block {
        shape: Shape,
        end: usize,
    },
    Loop {
        shape: Shape,
    },
    If {
        shape: Shape,
        else_: Option<usize>,
        end: usize,
    },
    Else {
        end: usize,
    },
    End,
    Br(u32),
    BrIf(u32),
    BrTable(Box<[u32]>, u32),
    Return,
    Call(u32),
    CallIndirect(u32),
    Drop,
    Select,
    LocalGet(u32),
    LocalSet(u32),
    LocalTee(u32),
    GlobalGet(u32),
    GlobalSet(u32),
    Load(Access),
    Store(Access),
    MemorySize,
    MemoryGrow,
    Const(W, u64),
    Num(Num),
}

fn shape(bt: BlockType, types: &[FuncType]) -> Result<Shape, DecodeError> {
    Ok(match bt {
        BlockType::Empty => Shape {
            params: 0,
            results: 0,
        },
        BlockType::Type(t) => {
            val_type(t)?;
            Shape {
                params: 0,
                results: 1,
            }
        }
        BlockType::FuncType(i) => {
            let t = types
                .get(i as usize)
                .ok_or_else(|| DecodeError::Malformed("block type index".into()))?;
            Shape {
                params: t.params.len() as u32,
                results: t.results.len() as u32,
            }
        }
    })
}

/// Decodes a function body, resolving control targets.
pub fn decode_body(
    body: &wasmparser::FunctionBody<'_>,
    types: &[FuncType],
) -> Result<Vec<Op>, DecodeError> {
    let mut ops = Vec::new();
    // Indices of the open block/loop/if instructions.
    let mut open: Vec<usize> = Vec::new();
    let mut reader = body.get_operators_reader()?;
    while !reader.eof() {
        let op = reader.read()?;
        let here = ops.len();
        let decoded = match op {
            Operator::Block { blockty } => {
                open.push(here);
                Op::Block {
                    shape: shape(blockty, types)?,
                    end: 0,
                }
            }
            Operator::Loop { blockty } => {
                open.push(here);
                Op::Loop {
                    shape: shape(blockty, types)?,
                }
            }
            Operator::If { blockty } => {
                open.push(here);
                Op::If {
                    shape: shape(blockty, types)?,
                    else_: None,
                    end: 0,
                }
            }
            Operator::Else => {
                let start = *open.last().ok_or_else(unbalanced)?;
                if let Some(Op::If { else_, .. }) = ops.get_mut(start) {
                    *else_ = Some(here);
                }
                Op::Else { end: 0 }
            }
            Operator::End => {
                // The function's own `end` closes no instruction.
                if let Some(start) = open.pop() {
                    close(&mut ops, start, here);
                }
                Op::End
            }
            other => simple(other)?,
        };
        ops.push(decoded);
    }
    if !open.is_empty() {
        return Err(unbalanced());
    }
    Ok(ops)
}

fn unbalanced() -> DecodeError {
    DecodeError::Malformed("unbalanced control instructions".into())
}

fn close(ops: &mut [Op], start: usize, end_at: usize) {
    let else_at = match ops.get_mut(start) {
        Some(Op::Block { end, .. }) => {
            *end = end_at;
            None
        }
        Some(Op::If { end, else_, .. }) => {
            *end = end_at;
            *else_
        }
        _ => None,
    };
    if let Some(e) = else_at
        && let Some(Op::Else { end }) = ops.get_mut(e)
    {
        *end = end_at;
    }
}

fn access(bytes: u32, signed: bool, w: W, m: wasmparser::MemArg) -> Access {
    Access {
        bytes,
        signed,
        w,
        offset: m.offset,
    }
}

fn simple(op: Operator<'_>) -> Result<Op, DecodeError> {
    use BinOp as B;
    use CmpOp as C;
    use Operator as O;
    use W::{I32, I64};
    let bin = |w, b| Op::Num(Num::Bin(w, b));
    let cmp = |w, c| Op::Num(Num::Cmp(w, c));
    Ok(match op {
        O::Unreachable => Op::Unreachable,
        O::Nop => Op::Nop,
        O::Br { relative_depth } => Op::Br(relative_depth),
        O::BrIf { relative_depth } => Op::BrIf(relative_depth),
        O::BrTable { targets } => {
            let default = targets.default();
            let t = targets.targets().collect::<Result<Vec<u32>, _>>()?;
            Op::BrTable(t.into_boxed_slice(), default)
        }
        O::Return => Op::Return,
        O::Call { function_index } => Op::Call(function_index),
        O::CallIndirect { type_index, .. } => Op::CallIndirect(type_index),
        O::Drop => Op::Drop,
        O::Select | O::TypedSelect { .. } => Op::Select,
        O::LocalGet { local_index } => Op::LocalGet(local_index),
        O::LocalSet { local_index } => Op::LocalSet(local_index),
        O::LocalTee { local_index } => Op::LocalTee(local_index),
        O::GlobalGet { global_index } => Op::GlobalGet(global_index),
        O::GlobalSet { global_index } => Op::GlobalSet(global_index),
        O::I32Load { memarg } => Op::Load(access(4, false, I32, memarg)),
        O::I64Load { memarg } => Op::Load(access(8, false, I64, memarg)),
        O::I32Load8S { memarg } => Op::Load(access(1, true, I32, memarg)),
        O::I32Load8U { memarg } => Op::Load(access(1, false, I32, memarg)),
        O::I32Load16S { memarg } => Op::Load(access(2, true, I32, memarg)),
        O::I32Load16U { memarg } => Op::Load(access(2, false, I32, memarg)),
        O::I64Load8S { memarg } => Op::Load(access(1, true, I64, memarg)),
        O::I64Load8U { memarg } => Op::Load(access(1, false, I64, memarg)),
        O::I64Load16S { memarg } => Op::Load(access(2, true, I64, memarg)),
        O::I64Load16U { memarg } => Op::Load(access(2, false, I64, memarg)),
        O::I64Load32S { memarg } => Op::Load(access(4, true, I64, memarg)),
        O::I64Load32U { memarg } => Op::Load(access(4, false, I64, memarg)),
        O::I32Store { memarg } => Op::Store(access(4, false, I32, memarg)),
        O::I64Store { memarg } => Op::Store(access(8, false, I64, memarg)),
        O::I32Store8 { memarg } => Op::Store(access(1, false, I32, memarg)),
        O::I32Store16 { memarg } => Op::Store(access(2, false, I32, memarg)),
        O::I64Store8 { memarg } => Op::Store(access(1, false, I64, memarg)),
        O::I64Store16 { memarg } => Op::Store(access(2, false, I64, memarg)),
        O::I64Store32 { memarg } => Op::Store(access(4, false, I64, memarg)),
        O::MemorySize { .. } => Op::MemorySize,
        O::MemoryGrow { .. } => Op::MemoryGrow,
        O::I32Const { value } => Op::Const(I32, u64::from(value as u32)),
        O::I64Const { value } => Op::Const(I64, value as u64),
        O::I32Eqz => Op::Num(Num::Eqz(I32)),
        O::I64Eqz => Op::Num(Num::Eqz(I64)),
        O::I32Eq => cmp(I32, C::Eq),
        O::I32Ne => cmp(I32, C::Ne),
        O::I32LtS => cmp(I32, C::LtS),
        O::I32LtU => cmp(I32, C::LtU),
        O::I32GtS => cmp(I32, C::GtS),
        O::I32GtU => cmp(I32, C::GtU),
        O::I32LeS => cmp(I32, C::LeS),
        O::I32LeU => cmp(I32, C::LeU),
        O::I32GeS => cmp(I32, C::GeS),
        O::I32GeU => cmp(I32, C::GeU),
        O::I64Eq => cmp(I64, C::Eq),
        O::I64Ne => cmp(I64, C::Ne),
        O::I64LtS => cmp(I64, C::LtS),
        O::I64LtU => cmp(I64, C::LtU),
        O::I64GtS => cmp(I64, C::GtS),
        O::I64GtU => cmp(I64, C::GtU),
        O::I64LeS => cmp(I64, C::LeS),
        O::I64LeU => cmp(I64, C::LeU),
        O::I64GeS => cmp(I64, C::GeS),
        O::I64GeU => cmp(I64, C::GeU),
        O::I32Clz => Op::Num(Num::Count(I32, CountKind::Clz)),
        O::I32Ctz => Op::Num(Num::Count(I32, CountKind::Ctz)),
        O::I32Popcnt => Op::Num(Num::Count(I32, CountKind::Popcnt)),
        O::I64Clz => Op::Num(Num::Count(I64, CountKind::Clz)),
        O::I64Ctz => Op::Num(Num::Count(I64, CountKind::Ctz)),
        O::I64Popcnt => Op::Num(Num::Count(I64, CountKind::Popcnt)),
        O::I32Add => bin(I32, B::Add),
        O::I32Sub => bin(I32, B::Sub),
        O::I32Mul => bin(I32, B::Mul),
        O::I32DivS => bin(I32, B::DivS),
        O::I32DivU => bin(I32, B::DivU),
        O::I32RemS => bin(I32, B::RemS),
        O::I32RemU => bin(I32, B::RemU),
        O::I32And => bin(I32, B::And),
        O::I32Or => bin(I32, B::Or),
        O::I32Xor => bin(I32, B::Xor),
        O::I32Shl => bin(I32, B::Shl),
        O::I32ShrS => bin(I32, B::ShrS),
        O::I32ShrU => bin(I32, B::ShrU),
        O::I32Rotl => bin(I32, B::Rotl),
        O::I32Rotr => bin(I32, B::Rotr),
        O::I64Add => bin(I64, B::Add),
        O::I64Sub => bin(I64, B::Sub),
        O::I64Mul => bin(I64, B::Mul),
        O::I64DivS => bin(I64, B::DivS),
        O::I64DivU => bin(I64, B::DivU),
        O::I64RemS => bin(I64, B::RemS),
        O::I64RemU => bin(I64, B::RemU),
        O::I64And => bin(I64, B::And),
        O::I64Or => bin(I64, B::Or),
        O::I64Xor => bin(I64, B::Xor),
        O::I64Shl => bin(I64, B::Shl),
        O::I64ShrS => bin(I64, B::ShrS),
        O::I64ShrU => bin(I64, B::ShrU),
        O::I64Rotl => bin(I64, B::Rotl),
        O::I64Rotr => bin(I64, B::Rotr),
        O::I32WrapI64 => Op::Num(Num::Wrap),
        O::I64ExtendI32S => Op::Num(Num::ExtendI32 { signed: true }),
        O::I64ExtendI32U => Op::Num(Num::ExtendI32 { signed: false }),
        O::I32Extend8S => Op::Num(Num::ExtendS(I32, 8)),
        O::I32Extend16S => Op::Num(Num::ExtendS(I32, 16)),
        O::I64Extend8S => Op::Num(Num::ExtendS(I64, 8)),
        O::I64Extend16S => Op::Num(Num::ExtendS(I64, 16)),
        O::I64Extend32S => Op::Num(Num::ExtendS(I64, 32)),
        other => {
            return Err(DecodeError::Unsupported(format!("operator {other:?}")));
        }
    })
}
