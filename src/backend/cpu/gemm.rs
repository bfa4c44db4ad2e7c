//! The CPU forward pass's matrix products: the `gemm` crate (candle's own kernels) called on
//! the pass's buffers directly, with strides, so that a product reads its operands where they
//! are and writes straight into its place in the output (one head's map in the trace's attention
//! buffer, one head's columns of the context): no tensor per product, no copy after it.

/// A strided matrix: element (i, j) at `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

impl<'a> Mat<'a> {
    /// Row-major with `ld` floats per row.
    pub fn rows(data: &'a [f32], ld: usize) -> Self {
        Mat {
            data,
            rs: ld,
            cs: 1,
        }
    }

    /// The transpose of a row-major matrix with `ld` floats per row.
    pub fn transposed(data: &'a [f32], ld: usize) -> Self {
        Mat {
            data,
            rs: 1,
            cs: ld,
        }
    }

    /// The last element a `rows × cols` view reads is inside `data`.
    fn covers(&self, rows: usize, cols: usize) -> bool {
        rows == 0 || cols == 0 || (rows - 1) * self.rs + (cols - 1) * self.cs < self.data.len()
    }
}

/// The output of a product: a raw row-major view, so that workers can write disjoint blocks of
/// one buffer (each head its own columns of the context).
#[derive(Clone, Copy)]
pub(crate) struct Out {
    ptr: *mut f32,
    len: usize,
    ld: usize,
}

// SAFETY: an `Out` is only handed to workers that write disjoint elements (the attention's
// workers own disjoint heads), and the slice it was made from stays mutably borrowed by the
// caller for the whole parallel section.
#[allow(unsafe_code)]
unsafe impl Send for Out {}
#[allow(unsafe_code)]
unsafe impl Sync for Out {}

impl Out {
    /// A view of `data` with `ld` floats per row; the view's (0, 0) is `data[0]`.
    pub fn new(data: &mut [f32], ld: usize) -> Self {
        Out {
            ptr: data.as_mut_ptr(),
            len: data.len(),
            ld,
        }
    }

    /// The view starting `offset` floats further in.
    pub fn at(self, offset: usize) -> Self {
        assert!(offset <= self.len, "output offset past the buffer");
        Out {
            // SAFETY: offset ≤ len (asserted), so the pointer stays inside the allocation.
            #[allow(unsafe_code)]
            ptr: unsafe { self.ptr.add(offset) },
            len: self.len - offset,
            ld: self.ld,
        }
    }
}

/// `c = a · b` (`accumulate`: `c += a · b`) for `a` `[m, depth]`, `b` `[depth, n]`. `parallel`
/// splits the product over rayon's pool (the big products; the attention calls it from its own
/// per-head workers).
pub(crate) fn matmul(
    a: Mat<'_>,
    b: Mat<'_>,
    c: Out,
    dims: (usize, usize, usize),
    accumulate: bool,
    parallel: bool,
) {
    matmul_scaled(a, b, c, dims, (accumulate, parallel), 1.0);
}

/// [`matmul`] with the product times `scale` inside the kernel (C = scale · A·B, or C +=): the
/// product rounded first and then scaled, as `torch.matmul(q, kᵀ) * scaling` computes it,
/// without a pass of its own over C.
pub(crate) fn matmul_scaled(
    a: Mat<'_>,
    b: Mat<'_>,
    c: Out,
    (m, depth, n): (usize, usize, usize),
    (accumulate, parallel): (bool, bool),
    scale: f32,
) {
    if m == 0 || n == 0 {
        return;
    }
    // every element the crate touches is inside its buffer
    assert!(a.covers(m, depth), "matmul: A is smaller than {m}x{depth}");
    assert!(b.covers(depth, n), "matmul: B is smaller than {depth}x{n}");
    assert!(
        (m - 1) * c.ld + n <= c.len && n <= c.ld,
        "matmul: C is smaller than {m}x{n}"
    );
    let threads = rayon::current_num_threads();
    if parallel && threads > 1 && m * depth * n >= 1 << 18 {
        // C's columns in one block per worker (multiples of 16), each a single-threaded
        // product: each worker streams only its share of B, a weight matrix that for BERT
        // (unshared layers, 340 MB) comes from memory on every pass. The crate's own
        // splitting was 10-30% slower on BERT-base and the same on ALBERT-base (2 cores).
        use rayon::prelude::*;
        let per = n.div_ceil(16).div_ceil(threads) * 16;
        (0..threads).into_par_iter().for_each(|t| {
            let (j0, j1) = ((t * per).min(n), ((t + 1) * per).min(n));
            if j1 > j0 {
                let b = Mat {
                    data: &b.data[j0 * b.cs..],
                    ..b
                };
                product(a, b, c.at(j0), (m, depth, j1 - j0), (accumulate, scale));
            }
        });
    } else {
        product(a, b, c, (m, depth, n), (accumulate, scale));
    }
}

fn product(
    a: Mat<'_>,
    b: Mat<'_>,
    c: Out,
    (m, depth, n): (usize, usize, usize),
    (accumulate, scale): (bool, f32),
) {
    let s = |v: usize| v as isize;
    // SAFETY: `matmul`'s asserts keep every read of A and B and every write of C inside their
    // buffers; C does not overlap A or B (it is a `&mut` borrow's view, they are `&` borrows).
    #[allow(unsafe_code)]
    unsafe {
        gemm::gemm(
            m,
            n,
            depth,
            c.ptr,
            1,
            s(c.ld),
            accumulate,
            a.data.as_ptr(),
            s(a.cs),
            s(a.rs),
            b.data.as_ptr(),
            s(b.cs),
            s(b.rs),
            if accumulate { 1.0 } else { 0.0 },
            scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761).max(1);
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    /// Odd shapes, row-major and transposed operands, leading dimensions wider than the
    /// matrices, plain and accumulating, against an f64 reference: within 1e-5 of the sum of
    /// |terms|; the output's padding between rows is untouched.
    #[test]
    fn strided_products_match_an_f64_reference_and_stay_in_their_block() {
        for &(m, depth, n) in &[(1, 1, 1), (13, 7, 33), (25, 300, 70), (64, 64, 64)] {
            let (lda, ldb, ldc) = (depth + 3, n + 5, n + 2);
            let a = data(m * lda, 1);
            let b = data(depth * ldb, 2);
            let bt = data(n * (depth + 1), 3); // b transposed: [n, depth + 1]
            for (transposed, accumulate, parallel) in [
                (false, false, true),
                (true, false, false),
                (false, true, false),
            ] {
                let mut c = vec![0.5f32; m * ldc];
                let rhs = if transposed {
                    Mat::transposed(&bt, depth + 1)
                } else {
                    Mat::rows(&b, ldb)
                };
                let out = Out::new(&mut c, ldc);
                matmul(
                    Mat::rows(&a, lda),
                    rhs,
                    out,
                    (m, depth, n),
                    accumulate,
                    parallel,
                );
                for i in 0..m {
                    for j in 0..n {
                        let (mut want, mut scale) = (if accumulate { 0.5 } else { 0.0 }, 1f64);
                        for k in 0..depth {
                            let bv = if transposed {
                                bt[j * (depth + 1) + k]
                            } else {
                                b[k * ldb + j]
                            };
                            let t = f64::from(a[i * lda + k]) * f64::from(bv);
                            want += t;
                            scale += t.abs();
                        }
                        let got = f64::from(c[i * ldc + j]);
                        assert!(
                            (got - want).abs() <= 1e-5 * scale,
                            "{m}x{depth}x{n} t={transposed} acc={accumulate}: {got} vs {want}"
                        );
                    }
                    assert!(c[i * ldc + n..(i + 1) * ldc].iter().all(|&v| v == 0.5));
                }
            }
        }
    }
}
