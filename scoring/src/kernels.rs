//! CPU fast paths for the forward pass's hot operations, with candle fallbacks.
//!
//! On CPU in f32 the matrix products go to OpenBLAS (when linked, see `build.rs`), SwiGLU is one
//! fused pass, and the attention softmax only touches the keys a query may see (left padding
//! and causality), skipping the masked half of every row. Elsewhere (CUDA, bf16) the same
//! functions run as plain candle ops. Every fast path computes the same mathematical function
//! as its fallback; tests compare the two.

use candle_core::{CpuStorage, D, DType, Device, Layout, Result, Storage, Tensor};
use rayon::prelude::*;

/// Which implementation the forward pass uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ops {
    /// Kindred's CPU kernels (f32 on CPU only).
    Native,
    /// Plain candle operations (any device and dtype).
    Portable,
}

impl Ops {
    pub fn for_device(device: &Device, dtype: DType) -> Self {
        if device.is_cpu() && dtype == DType::F32 {
            Self::Native
        } else {
            Self::Portable
        }
    }
}

/// Whether CPU matrix products go through OpenBLAS in this build.
pub const OPENBLAS: bool = cfg!(kindred_openblas);

/// Runs `f` on the contiguous f32 data of `t` (which must be on CPU, in f32).
fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    let t = t.contiguous()?;
    let (storage, layout): (_, &Layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(CpuStorage::F32(data)) => {
            let start = layout.start_offset();
            f(&data[start..start + layout.shape().elem_count()])
        }
        _ => candle_core::bail!("native kernel needs a CPU f32 tensor, got {:?}", t.dtype()),
    }
}

fn matrix_dims(t: &Tensor) -> Result<(usize, usize, usize)> {
    let dims = t.dims();
    if dims.len() < 2 {
        candle_core::bail!("matrix product needs at least 2 dims, got {:?}", dims);
    }
    let batch = dims[..dims.len() - 2].iter().product();
    Ok((batch, dims[dims.len() - 2], dims[dims.len() - 1]))
}

/// Column block per task when decoding (few rows).
const DECODE_COLS_PER_TASK: usize = 1024;

/// One independent product: `c = a · op(b)` for a block of rows.
struct Task<'a> {
    a: &'a [f32],
    b: &'a [f32],
    c: &'a mut [f32],
    rows: usize,
}

/// Runs `c = a · op(b)` for `batch` independent matrices, splitting rows into fixed-size tasks
/// spread over the rayon pool, each a single-threaded BLAS call (one thread pool, no contention
/// between OpenBLAS's threads and rayon's). `b_shared` reuses one `b` for every batch entry.
#[allow(clippy::too_many_arguments)]
fn batched_sgemm(
    trans_b: bool,
    batch: usize,
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    b_shared: bool,
) -> Vec<f32> {
    blas::single_threaded();
    let mut c = vec![0f32; batch * m * n];
    if m <= 8 && batch == 1 && trans_b {
        // Decoding: a few rows against a weight matrix is a matrix–vector product per row;
        // sgemm would re-pack the whole weight for every call. Output columns are split over
        // the threads in fixed blocks.
        for (i, c_row) in c.chunks_mut(n).enumerate() {
            let x = &a[i * k..(i + 1) * k];
            let tasks: Vec<(usize, &mut [f32])> =
                c_row.chunks_mut(DECODE_COLS_PER_TASK).enumerate().collect();
            tasks.into_par_iter().for_each(|(j, y)| {
                let start = j * DECODE_COLS_PER_TASK;
                blas::sgemv(&b[start * k..(start + y.len()) * k], k, x, y);
            });
        }
        return c;
    }
    // Each output element is one dot product over k whatever the row split, so splitting rows
    // across threads does not change any rounding. Many matrices: one task each; few: split
    // rows evenly over the threads (each task re-packs b, so fewer, larger tasks are better).
    let threads = rayon::current_num_threads().max(1);
    let rows_per_task = if batch >= threads {
        m
    } else {
        m.div_ceil(threads).next_multiple_of(8)
    }
    .max(1);
    let mut tasks = Vec::new();
    for (i, c_i) in c.chunks_mut(m * n).enumerate() {
        let a_i = &a[i * m * k..(i + 1) * m * k];
        let b_i = if b_shared {
            b
        } else {
            &b[i * n * k..(i + 1) * n * k]
        };
        for (r, c_block) in c_i.chunks_mut(rows_per_task * n).enumerate() {
            let rows = c_block.len() / n;
            let a_block = &a_i[r * rows_per_task * k..(r * rows_per_task + rows) * k];
            tasks.push(Task {
                a: a_block,
                b: b_i,
                c: c_block,
                rows,
            });
        }
    }
    tasks
        .into_par_iter()
        .for_each(|t| blas::sgemm(trans_b, t.rows, n, k, t.a, t.b, t.c));
    c
}

/// `a @ bᵀ`: `a` is `(…, m, k)`, `b` is `(…, n, k)` with the same leading dims, or `(n, k)`
/// shared by every batch entry (a weight matrix).
pub fn matmul_nt(ops: Ops, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if ops == Ops::Portable || !OPENBLAS {
        return if b.rank() == 2 {
            a.broadcast_matmul(&b.t()?)
        } else {
            a.matmul(&b.t()?)
        };
    }
    let (batch, m, k) = matrix_dims(a)?;
    let (b_batch, n, bk) = matrix_dims(b)?;
    let shared = b.rank() == 2;
    if bk != k || (b_batch != batch && !shared) {
        candle_core::bail!("matmul_nt shape mismatch {:?} x {:?}ᵀ", a.shape(), b.shape());
    }
    let mut out_dims = a.dims().to_vec();
    *out_dims.last_mut().unwrap_or(&mut 0) = n;
    let out = with_f32(a, |a| {
        with_f32(b, |b| Ok(batched_sgemm(true, batch, m, n, k, a, b, shared)))
    })?;
    Tensor::from_vec(out, out_dims, a.device())
}

/// `a @ b`: `a` is `(…, m, k)`, `b` is `(…, k, n)` with the same leading dims.
pub fn matmul_nn(ops: Ops, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if ops == Ops::Portable || !OPENBLAS {
        return a.matmul(b);
    }
    let (batch, m, k) = matrix_dims(a)?;
    let (b_batch, bk, n) = matrix_dims(b)?;
    if bk != k || b_batch != batch {
        candle_core::bail!("matmul_nn shape mismatch {:?} x {:?}", a.shape(), b.shape());
    }
    let mut out_dims = a.dims().to_vec();
    *out_dims.last_mut().unwrap_or(&mut 0) = n;
    let out = with_f32(a, |a| {
        with_f32(b, |b| Ok(batched_sgemm(false, batch, m, n, k, a, b, false)))
    })?;
    Tensor::from_vec(out, out_dims, a.device())
}

/// `eˣ` to within ~2 ulp, in plain arithmetic the compiler vectorises (libm's `expf` is a
/// call per element): Cody–Waite reduction to r ∈ [−ln2/2, ln2/2], degree-6 polynomial, then
/// scaling by 2ᵏ through the exponent bits. Inputs are clamped to the normal range.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding and subtracting 1.5·2²³ rounds to the nearest integer without a libm call.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let k = (x * LOG2E + ROUND) - ROUND;
    let r = x - k * LN2_HI - k * LN2_LO;
    let p = 1.0
        + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    p * f32::from_bits(((k as i32 + 127) as u32) << 23)
}

/// A reduction over eight independent lanes, so it vectorises (a single accumulator is a
/// serial dependency chain). The lane order is fixed, so the result is deterministic.
fn lanes(x: &[f32], init: f32, f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [init; 8];
    let chunks = x.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a = f(*a, *v);
        }
    }
    let mut r = tail.iter().fold(init, |a, v| f(a, *v));
    for a in acc {
        r = f(r, a);
    }
    r
}

fn silu(x: f32) -> f32 {
    x / (1.0 + exp(-x))
}

/// `silu(gate) * up` where the last dim of `x` is `[gate | up]`.
pub fn swiglu(ops: Ops, x: &Tensor) -> Result<Tensor> {
    if ops == Ops::Portable {
        return candle_nn::ops::swiglu(x);
    }
    let (rows, width) = (x.elem_count() / x.dim(D::Minus1)?, x.dim(D::Minus1)?);
    let half = width / 2;
    let mut out_dims = x.dims().to_vec();
    *out_dims.last_mut().unwrap_or(&mut 0) = half;
    let out = with_f32(x, |x| {
        let mut out = vec![0f32; rows * half];
        out.par_chunks_mut(half)
            .zip(x.par_chunks(width))
            .for_each(|(o, row)| {
                let (gate, up) = row.split_at(half);
                for ((o, g), u) in o.iter_mut().zip(gate).zip(up) {
                    *o = silu(*g) * u;
                }
            });
        Ok(out)
    })?;
    Tensor::from_vec(out, out_dims, x.device())
}

/// Which keys each query may attend to, for a batch of left-padded sequences.
///
/// Query `i` of sequence `b` sits at absolute position `i + offset` (offset = cached keys) and
/// sees keys `pads[b] ..= i + offset`; a padding query sees only itself so its row stays finite.
#[derive(Debug, Clone)]
pub struct AttentionSpan {
    pub pads: Vec<usize>,
    pub offset: usize,
}

impl AttentionSpan {
    fn range(&self, b: usize, i: usize) -> (usize, usize) {
        let last = i + self.offset;
        let first = self.pads[b];
        if first > last { (last, last) } else { (first, last) }
    }

    /// The additive mask `(b, 1, t, t_total)` the portable path uses.
    pub fn additive_mask(&self, t: usize, device: &Device) -> Result<Tensor> {
        let b = self.pads.len();
        let total = t + self.offset;
        let mut mask = vec![f32::NEG_INFINITY; b * t * total];
        for bi in 0..b {
            for i in 0..t {
                let (lo, hi) = self.range(bi, i);
                mask[(bi * t + i) * total + lo..=(bi * t + i) * total + hi].fill(0.0);
            }
        }
        Tensor::from_vec(mask, (b, 1, t, total), device)
    }
}

/// Softmax over keys of `scores` (`(b, heads, t, t_total)`, f32) restricted to each query's span;
/// keys outside the span get probability 0.
pub fn masked_softmax(ops: Ops, scores: &Tensor, span: &AttentionSpan) -> Result<Tensor> {
    let (b, heads, t, total) = scores.dims4()?;
    if ops == Ops::Portable {
        let mask = span.additive_mask(t, scores.device())?;
        return candle_nn::ops::softmax_last_dim(&scores.broadcast_add(&mask)?);
    }
    let out = with_f32(scores, |s| {
        let mut out = vec![0f32; s.len()];
        out.par_chunks_mut(total)
            .zip(s.par_chunks(total))
            .enumerate()
            .for_each(|(row, (o, x))| {
                let bi = row / (heads * t);
                let i = row % t;
                let (lo, hi) = span.range(bi, i);
                let x = &x[lo..=hi];
                let max = lanes(x, f32::NEG_INFINITY, f32::max);
                let o = &mut o[lo..=hi];
                for (o, v) in o.iter_mut().zip(x) {
                    *o = exp(v - max);
                }
                let inv = 1.0 / lanes(o, 0.0, |a, b| a + b);
                o.iter_mut().for_each(|v| *v *= inv);
            });
        Ok(out)
    })?;
    Tensor::from_vec(out, (b, heads, t, total), scores.device())
}

#[cfg(kindred_openblas)]
#[allow(unsafe_code)]
mod blas {
    use std::ffi::c_int;

    const ROW_MAJOR: c_int = 101;
    const NO_TRANS: c_int = 111;
    const TRANS: c_int = 112;

    unsafe extern "C" {
        fn openblas_set_num_threads(n: c_int);
        fn cblas_sgemv(
            order: c_int,
            trans: c_int,
            m: c_int,
            n: c_int,
            alpha: f32,
            a: *const f32,
            lda: c_int,
            x: *const f32,
            incx: c_int,
            beta: f32,
            y: *mut f32,
            incy: c_int,
        );
        fn cblas_sgemm(
            order: c_int,
            trans_a: c_int,
            trans_b: c_int,
            m: c_int,
            n: c_int,
            k: c_int,
            alpha: f32,
            a: *const f32,
            lda: c_int,
            b: *const f32,
            ldb: c_int,
            beta: f32,
            c: *mut f32,
            ldc: c_int,
        );
    }

    /// `y = w · x` for a row-major `w` of `y.len()` rows and `k` columns.
    pub fn sgemv(w: &[f32], k: usize, x: &[f32], y: &mut [f32]) {
        let rows = y.len();
        assert!(w.len() >= rows * k && x.len() >= k, "sgemv slice too short");
        assert!(rows.max(k) <= c_int::MAX as usize, "sgemv dimension overflow");
        // SAFETY: `w` holds rows·k elements, `x` k and `y` rows, exactly what a row-major sgemv
        // with lda = k and unit strides reads and writes; `y` is exclusively borrowed.
        unsafe {
            cblas_sgemv(
                ROW_MAJOR,
                NO_TRANS,
                rows as c_int,
                k as c_int,
                1.0,
                w.as_ptr(),
                k as c_int,
                x.as_ptr(),
                1,
                0.0,
                y.as_mut_ptr(),
                1,
            );
        }
    }

    /// Kindred parallelises over independent blocks itself; OpenBLAS's own threads would
    /// spin against rayon's on the same cores.
    pub fn single_threaded() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        // SAFETY: sets a global thread count before any sgemm of ours runs; no pointers involved.
        ONCE.call_once(|| unsafe { openblas_set_num_threads(1) });
    }

    /// `c = a · op(b)`, row-major, `c` is `m × n`. Slice lengths are checked here so the
    /// foreign call can never read or write out of bounds.
    pub fn sgemm(trans_b: bool, m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
        assert!(
            a.len() >= m * k && b.len() >= k * n && c.len() >= m * n,
            "sgemm slice too short"
        );
        assert!(m.max(n).max(k) <= c_int::MAX as usize, "sgemm dimension overflow");
        let ldb = if trans_b { k } else { n };
        let tb = if trans_b { TRANS } else { NO_TRANS };
        // SAFETY: the asserts above guarantee each buffer holds the m·k, k·n and m·n elements
        // that row-major sgemm with these leading dimensions touches; `c` is exclusively borrowed.
        unsafe {
            cblas_sgemm(
                ROW_MAJOR,
                NO_TRANS,
                tb,
                m as c_int,
                n as c_int,
                k as c_int,
                1.0,
                a.as_ptr(),
                k as c_int,
                b.as_ptr(),
                ldb as c_int,
                0.0,
                c.as_mut_ptr(),
                n as c_int,
            );
        }
    }
}

#[cfg(not(kindred_openblas))]
mod blas {
    pub fn single_threaded() {}

    pub fn sgemv(_: &[f32], _: usize, _: &[f32], _: &mut [f32]) {
        unreachable!("sgemv called without OpenBLAS")
    }

    /// Unreachable without OpenBLAS: callers take candle's path when `OPENBLAS` is false.
    pub fn sgemm(_: bool, _: usize, _: usize, _: usize, _: &[f32], _: &[f32], _: &mut [f32]) {
        unreachable!("sgemm called without OpenBLAS")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiny::SeededNormal;

    #[test]
    fn fast_exp_is_accurate() {
        let mut worst = 0f64;
        let mut x = -80.0f32;
        while x < 80.0 {
            let want = (x as f64).exp();
            let rel = ((exp(x) as f64 - want) / want).abs();
            worst = worst.max(rel);
            x += 0.0137;
        }
        assert!(worst < 5e-7, "worst relative error {worst}");
    }

    #[test]
    fn thin_and_tall_products_match() {
        let mut rng = SeededNormal::new(9);
        for m in [1, 3, 200, 300] {
            let a = rng.tensor(&[m, 40], 0.0, 1.0).expect("a");
            let w = rng.tensor(&[1100, 40], 0.0, 1.0).expect("w");
            close(
                &matmul_nt(Ops::Native, &a, &w).expect("n"),
                &matmul_nt(Ops::Portable, &a, &w).expect("p"),
                1e-4,
            );
        }
    }

    fn close(a: &Tensor, b: &Tensor, tol: f32) {
        let d = (a - b)
            .and_then(|d| d.abs())
            .and_then(|d| d.flatten_all())
            .and_then(|d| d.max(0))
            .and_then(|d| d.to_scalar::<f32>())
            .expect("diff");
        assert!(d < tol, "max diff {d}");
    }

    #[test]
    fn native_kernels_match_candle() {
        let mut rng = SeededNormal::new(3);
        let a = rng.tensor(&[2, 3, 5, 8], 0.0, 1.0).expect("a");
        let b = rng.tensor(&[2, 3, 7, 8], 0.0, 1.0).expect("b");
        let w = rng.tensor(&[7, 8], 0.0, 1.0).expect("w");
        close(
            &matmul_nt(Ops::Native, &a, &b).expect("n"),
            &matmul_nt(Ops::Portable, &a, &b).expect("p"),
            1e-4,
        );
        close(
            &matmul_nt(Ops::Native, &a, &w).expect("n"),
            &matmul_nt(Ops::Portable, &a, &w).expect("p"),
            1e-4,
        );
        let v = rng.tensor(&[2, 3, 8, 4], 0.0, 1.0).expect("v");
        close(
            &matmul_nn(Ops::Native, &a, &v).expect("n"),
            &matmul_nn(Ops::Portable, &a, &v).expect("p"),
            1e-4,
        );
        let x = rng.tensor(&[6, 10], 0.0, 2.0).expect("x");
        close(
            &swiglu(Ops::Native, &x).expect("n"),
            &swiglu(Ops::Portable, &x).expect("p"),
            1e-5,
        );
        let s = rng.tensor(&[2, 3, 4, 6], 0.0, 3.0).expect("s");
        let span = AttentionSpan {
            pads: vec![0, 3],
            offset: 2,
        };
        let native = masked_softmax(Ops::Native, &s, &span).expect("n");
        close(
            &native,
            &masked_softmax(Ops::Portable, &s, &span).expect("p"),
            1e-5,
        );
        // Row 0 of the padded sequence is a padding query: it sees only itself.
        let row = native
            .get(1)
            .and_then(|t| t.get(0))
            .and_then(|t| t.get(0))
            .and_then(|t| t.to_vec1::<f32>())
            .expect("row");
        assert_eq!(row, vec![0.0, 0.0, 1.0, 0.0, 0.0, 0.0]);
    }
}
