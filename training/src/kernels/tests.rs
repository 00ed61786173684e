//! Gradient checks of each fused kernel against the portable path (`portable.rs`, the unfused
//! candle ops it replaces): the value and the gradient of Σ w⊙y (random w) for every input,
//! within 1e-5 relative in f32 (max |error| over max |reference|) and 1e-12 in f64.

use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};

use super::{portable, CausalAttention, Gelu, LayerNorm, LnNormalize, SoftmaxCrossEntropy};

fn random(shape: &[usize], lo: f64, hi: f64, seed: u64, dtype: DType) -> Tensor {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| rng.random_range(lo..hi)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap().to_dtype(dtype).unwrap()
}

fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
    let a: Vec<f64> = a.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    let b: Vec<f64> = b.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f64, |m, x| m.max(x.abs())).max(1e-30);
    a.iter().zip(&b).fold(0f64, |m, (x, y)| m.max((x - y).abs())) / scale
}

/// Output and gradients of Σ w⊙f(inputs) for each input.
fn value_and_grads(inputs: &[Tensor], w_seed: u64, f: impl Fn(&[Tensor]) -> Tensor) -> (Tensor, Vec<Tensor>) {
    let vars: Vec<Var> = inputs.iter().map(|t| Var::from_tensor(t).unwrap()).collect();
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let y = f(&ts);
    let w = random(y.dims(), -1.0, 1.0, w_seed, y.dtype());
    let grads = (&y * &w).unwrap().sum_all().unwrap().backward().unwrap();
    let g = vars.iter().map(|v| grads.get(v.as_tensor()).expect("gradient reached the input").clone()).collect();
    (y.detach(), g)
}

fn check(name: &str, inputs: &[Tensor], fused: impl Fn(&[Tensor]) -> Tensor, unfused: impl Fn(&[Tensor]) -> Tensor) {
    let tol = if inputs[0].dtype() == DType::F32 { 1e-5 } else { 1e-12 };
    let (yf, gf) = value_and_grads(inputs, 99, fused);
    let (yu, gu) = value_and_grads(inputs, 99, unfused);
    let e = rel_err(&yf, &yu);
    assert!(e <= tol, "{name} ({:?}): value relative error {e:e}", inputs[0].dtype());
    for (i, (a, b)) in gf.iter().zip(&gu).enumerate() {
        let e = rel_err(a, b);
        assert!(e <= tol, "{name} ({:?}): gradient of input {i} relative error {e:e}", inputs[0].dtype());
    }
}

#[test]
fn gelu_matches_candles_gelu_and_its_gradient() {
    // Past the shapes of the rayon split too (2 × 40,000 elements).
    let x = random(&[2, 40_000], -8.0, 8.0, 1, DType::F32);
    check("gelu", &[x], |t| t[0].apply_op1(Gelu).unwrap(), |t| portable::gelu(&t[0]).unwrap());
}

#[test]
fn gelu_gradient_in_f64_matches_central_differences() {
    // candle's own GELU backward rounds its constants to 6 digits (~1e-6 off), so in f64 the
    // fused gradient is checked against (gelu(x+h) − gelu(x−h)) / 2h of candle's exact forward.
    let x = random(&[1000], -8.0, 8.0, 17, DType::F64);
    let (y, g) = value_and_grads(&[x.clone()], 99, |t| t[0].apply_op1(Gelu).unwrap());
    assert!(rel_err(&y, &x.gelu().unwrap()) <= 1e-12);
    let w = random(&[1000], -1.0, 1.0, 99, DType::F64);
    let h = 1e-5;
    let fd = ((((&x + h).unwrap().gelu().unwrap() - (&x - h).unwrap().gelu().unwrap()).unwrap() / (2.0 * h)).unwrap() * w).unwrap();
    let e = rel_err(&g[0], &fd);
    assert!(e <= 1e-8, "gelu f64 gradient vs central differences: relative error {e:e}");
}

#[test]
fn layer_norm_matches_unfused_with_gradients_for_x_gamma_beta() {
    for dtype in [DType::F32, DType::F64] {
        for (rows, d) in [(3usize, 5usize), (300, 128)] {
            // An offset mean and a spread scale, as residual streams have.
            let x = (random(&[rows, d], -2.0, 2.0, 2, dtype) * 3.0).unwrap().broadcast_add(&random(&[rows, 1], -5.0, 5.0, 3, dtype)).unwrap();
            let g = random(&[d], 0.5, 1.5, 4, dtype);
            let b = random(&[d], -0.5, 0.5, 5, dtype);
            check(
                "layer norm",
                &[x.clone(), g.clone(), b.clone()],
                |t| t[0].apply_op3(&t[1], &t[2], LayerNorm { eps: 1e-5 }).unwrap(),
                |t| portable::layer_norm(&t[0], &t[1], &t[2], 1e-5).unwrap(),
            );
            check("ln normalize", &[x], |t| t[0].apply_op1(LnNormalize { eps: 1e-5 }).unwrap(), |t| portable::ln_normalize(&t[0], 1e-5).unwrap());
        }
    }
}

#[test]
fn cross_entropy_matches_log_softmax_gather_with_weights() {
    for dtype in [DType::F32, DType::F64] {
        let (n, v) = (70usize, 1000usize);
        let logits = random(&[n, v], -6.0, 6.0, 6, dtype);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let targets: Vec<u32> = (0..n).map(|_| rng.random_range(0..v as u32)).collect();
        // Some rows padding (weight 0), the others 1/count as in a batch.
        let weights: Vec<f64> = (0..n).map(|r| if r % 7 == 3 { 0.0 } else { 1.0 / (1 + r % 5) as f64 }).collect();
        let (tg, wt) = (targets.clone(), weights.clone());
        check(
            "cross entropy",
            &[logits],
            move |t| t[0].apply_op1(SoftmaxCrossEntropy::new(tg.clone(), wt.clone())).unwrap(),
            move |t| portable::softmax_cross_entropy(&t[0], &targets, &weights).unwrap(),
        );
    }
}

#[test]
fn causal_attention_matches_unfused_heads_mask_softmax() {
    for dtype in [DType::F32, DType::F64] {
        for (b, t, d, h) in [(2usize, 5usize, 8usize, 2usize), (4, 64, 128, 4)] {
            let qkv = random(&[b, t, 3 * d], -2.0, 2.0, 8, dtype);
            check("causal attention", &[qkv], |x| x[0].apply_op1(CausalAttention::new(h)).unwrap(), |x| portable::causal_attention(&x[0], h).unwrap());
        }
    }
}

#[test]
fn linear_matches_matmul_plus_bias_with_all_gradients() {
    for dtype in [DType::F32, DType::F64] {
        for (n, din, dout) in [(3usize, 5usize, 7usize), (2048, 128, 384)] {
            let x = random(&[n, din], -1.0, 1.0, 10, dtype);
            let w = random(&[dout, din], -0.3, 0.3, 11, dtype);
            let b = random(&[dout], -0.5, 0.5, 12, dtype);
            check(
                "linear",
                &[x.clone(), w.clone(), b],
                |t| t[0].apply_op3(&t[1], &t[2], super::Linear).unwrap(),
                |t| portable::linear(&t[0], &t[1], Some(&t[2])).unwrap(),
            );
            check("linear without bias", &[x, w], |t| t[0].apply_op2(&t[1], super::Linear).unwrap(), |t| portable::linear(&t[0], &t[1], None).unwrap());
        }
    }
}

#[test]
fn adamw_update_matches_the_candle_op_formula() {
    for dtype in [DType::F32, DType::F64] {
        let (w, g) = (random(&[50, 30], -1.0, 1.0, 13, dtype), random(&[50, 30], -0.1, 0.1, 14, dtype));
        let (m, v) = (random(&[50, 30], -0.01, 0.01, 15, dtype), random(&[50, 30], 0.0, 1e-4, 16, dtype));
        let s = super::AdamWStep { lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, bc1: 1.0 - 0.9f64.powi(3), bc2: 1.0 - 0.95f64.powi(3), decay: 1.0 - 1e-3 * 0.01 };
        let (fw, fm, fv) = super::adamw_update(&w, &g, &m, &v, s).unwrap();
        let (w2, m2, v2) = portable::adamw_update(&w, &g, &m, &v, s).unwrap();
        let tol = if dtype == DType::F32 { 1e-6 } else { 1e-14 };
        for (name, a, b) in [("w", &fw, &w2), ("m", &fm, &m2), ("v", &fv, &v2)] {
            let e = rel_err(a, b);
            assert!(e <= tol, "adamw {name} ({dtype:?}): relative error {e:e}");
        }
    }
}

#[test]
fn per_example_sums_match_the_portable_sum_over_positions() {
    for dtype in [DType::F32, DType::F64] {
        let tol = if dtype == DType::F32 { 1e-6 } else { 1e-14 };
        let (v, w) = (random(&[4, 9, 6], -1.0, 1.0, 18, dtype), random(&[4, 9, 6], -2.0, 2.0, 19, dtype));
        for (name, weights) in [("Σ v", None), ("Σ v⊙w", Some(&w))] {
            let e = rel_err(&super::per_example_sums(&v, weights).unwrap(), &portable::per_example_sums(&v, weights).unwrap());
            assert!(e <= tol, "{name} ({dtype:?}): relative error {e:e}");
        }
    }
}

#[test]
fn per_example_weight_gradient_kernels_match_the_portable_ops() {
    // T = 45 and 70: Gram blocks of 32 with a ragged last block, off-diagonal blocks counted twice.
    for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-5)] {
        for (t, din, dout) in [(45, 24, 40), (70, 16, 9), (64, 48, 32)] {
            let a = random(&[3, t, din], -1.0, 1.0, 21, dtype);
            let g = random(&[3, t, dout], -1.0, 1.0, 22, dtype);
            let c = Tensor::new(&[0.25f64, 1.0, 0.0], &Device::Cpu).unwrap().to_dtype(dtype).unwrap().reshape((3, 1, 1)).unwrap();
            let pairs = [
                ("ghost norms", super::ghost_sq_norms(&a, &g).unwrap(), portable::ghost_sq_norms(&a, &g).unwrap()),
                ("per-example weight gradients", super::per_example_weight_grads(&a, &g).unwrap(), portable::per_example_weight_grads(&a, &g).unwrap()),
                ("clipped weight sum", super::clipped_weight_sum(&a, &g, &c).unwrap(), portable::clipped_weight_sum(&a, &g, &c).unwrap()),
            ];
            for (name, fused, reference) in pairs {
                assert_eq!(fused.dims(), reference.dims(), "{name}");
                let e = rel_err(&fused, &reference);
                assert!(e <= tol, "{name} ({dtype:?}, T {t}): relative error {e:e}");
            }
            // The ghost norm is the squared norm of the per-example gradient it stands for.
            let direct = super::per_example_weight_grads(&a, &g).unwrap().sqr().unwrap().sum((1, 2)).unwrap();
            assert!(rel_err(&super::ghost_sq_norms(&a, &g).unwrap(), &direct) <= tol * 10.0);
        }
    }
}

#[test]
fn embedding_norms_match_the_masked_gram_and_the_gradient_they_stand_for() {
    // A vocabulary of 5 over T = 37: most tokens repeat, so rows of one token id must add up.
    for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-5)] {
        let (b, t, d, vocab) = (3, 37, 20, 5);
        let g = random(&[b, t, d], -1.0, 1.0, 31, dtype);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(32);
        let ids: Vec<u32> = (0..b * t).map(|_| rng.random_range(0..vocab as u32)).collect();
        let fused = super::embedding_sq_norms(&g, &ids).unwrap();
        let e = rel_err(&fused, &portable::embedding_sq_norms(&g, &ids).unwrap());
        assert!(e <= tol, "embedding norms ({dtype:?}): relative error {e:e}");
        // Directly: each example's (vocab, d) gradient by index_add, then its squared norm.
        let direct: Vec<Tensor> = (0..b)
            .map(|i| {
                let idx = Tensor::from_vec(ids[i * t..(i + 1) * t].to_vec(), t, &Device::Cpu).unwrap();
                let rows = g.get(i).unwrap();
                let grad = Tensor::zeros((vocab, d), dtype, &Device::Cpu).unwrap().index_add(&idx, &rows, 0).unwrap();
                grad.sqr().unwrap().sum_all().unwrap()
            })
            .collect();
        let e = rel_err(&fused, &Tensor::stack(&direct, 0).unwrap());
        assert!(e <= tol * 10.0, "embedding norms vs the gradient ({dtype:?}): relative error {e:e}");
        assert!(super::embedding_sq_norms(&g, &ids[1..]).is_err(), "a wrong number of ids is refused");
    }
}

#[test]
fn transpose_matches_the_element_by_element_definition() {
    // Whole 16×16 blocks, ragged rows and columns, a single row, a single column, nothing.
    for (rows, cols) in [(64, 128), (37, 50), (16, 16), (1, 17), (33, 1), (0, 5), (5, 0)] {
        let x32: Vec<f32> = (0..rows * cols).map(|i| i as f32 * 0.5 - 3.0).collect();
        let x64: Vec<f64> = x32.iter().map(|&v| f64::from(v) + 1e-12).collect();
        let want32: Vec<f32> = (0..cols * rows).map(|k| x32[(k % rows.max(1)) * cols + k / rows.max(1)]).collect();
        let want64: Vec<f64> = (0..cols * rows).map(|k| x64[(k % rows.max(1)) * cols + k / rows.max(1)]).collect();
        // SAFETY: transpose_into writes every element.
        let got32: Vec<f32> = unsafe { super::vec_written_by(rows * cols, |o| super::transpose_into(&x32, rows, cols, o)) };
        let got64: Vec<f64> = unsafe { super::vec_written_by(rows * cols, |o| super::transpose_into(&x64, rows, cols, o)) };
        assert_eq!(got32, want32, "f32 {rows}×{cols}");
        assert_eq!(got64, want64, "f64 {rows}×{cols}");
    }
}

#[test]
fn embedding_sums_and_per_example_norms_match_the_portable_ops() {
    // Vocabulary 7 over T = 23 (repeated tokens add up), context 30 > T (rows past T stay zero),
    // one factor zero; each sum alone and both together.
    for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-5)] {
        let (b, t, d, vocab, context) = (3, 23, 18, 7, 30);
        let g = random(&[b, t, d], -1.0, 1.0, 41, dtype);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
        let ids: Vec<u32> = (0..b * t).map(|_| rng.random_range(0..vocab as u32)).collect();
        let c = Tensor::new(&[0.5f64, 0.0, 1.0], &Device::Cpu).unwrap().to_dtype(dtype).unwrap().reshape((b, 1, 1)).unwrap();
        let c2 = Tensor::new(&[1.0f64, 0.25, 0.75], &Device::Cpu).unwrap().to_dtype(dtype).unwrap().reshape((b, 1, 1)).unwrap();
        let reference = portable::clipped_embedding_sums(&g, &ids, Some((vocab, &c)), Some((context, &c2))).unwrap();
        for (token, position) in [(true, true), (true, false), (false, true)] {
            let got = super::path::clipped_embedding_sums(super::KernelPath::Fused, &g, &ids, token.then_some((vocab, &c)), position.then_some((context, &c2))).unwrap();
            assert_eq!((got.0.is_some(), got.1.is_some()), (token, position));
            for (name, fused, want) in [("token", got.0, &reference.0), ("position", got.1, &reference.1)] {
                if let Some(fused) = fused {
                    let want = want.as_ref().unwrap();
                    assert_eq!(fused.dims(), want.dims(), "{name}");
                    let e = rel_err(&fused, want);
                    assert!(e <= tol, "{name} embedding sum ({dtype:?}): relative error {e:e}");
                }
            }
        }
        // Row 2 of the position sum is Σ_b c'_b g[b, 2, :], written out.
        let pos = reference.1.unwrap();
        let by_hand = (0..b).map(|i| (g.get(i).unwrap().get(2).unwrap() * [1.0, 0.25, 0.75][i]).unwrap()).reduce(|x, y| (x + y).unwrap()).unwrap();
        assert!(rel_err(&pos.get(2).unwrap(), &by_hand) <= tol);
        assert_eq!(pos.get(t).unwrap().abs().unwrap().sum_all().unwrap().to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap(), 0.0);
        // A token id outside the vocabulary, a wrong number of ids or factors: refused.
        let fused = |ids: &[u32], vocab: usize, c: &[f64]| super::clipped_embedding_sums(&g, ids, Some((vocab, c)), None);
        assert!(ids.contains(&(vocab as u32 - 1)) && fused(&ids, vocab - 1, &[1.0; 3]).is_err());
        assert!(fused(&ids[1..], vocab, &[1.0; 3]).is_err());
        assert!(fused(&ids, vocab, &[1.0; 2]).is_err());
        assert!(super::clipped_embedding_sums(&g, &ids, None, Some((t - 1, &[1.0; 3]))).is_err(), "a context shorter than T");

        // Squared norms per example of a (B, 4, 5) tensor and of one of (B, 1).
        for x in [random(&[b, 4, 5], -1.0, 1.0, 43, dtype), random(&[b, 1], -1.0, 1.0, 44, dtype)] {
            let e = rel_err(&super::per_example_sq_norms(&x).unwrap(), &portable::per_example_sq_norms(&x).unwrap());
            assert!(e <= tol, "per-example norms ({dtype:?}): relative error {e:e}");
        }
        let x = Tensor::new(&[[3.0f64, 4.0], [0.0, -2.0]], &Device::Cpu).unwrap().to_dtype(dtype).unwrap();
        let got: Vec<f64> = super::per_example_sq_norms(&x).unwrap().to_dtype(DType::F64).unwrap().to_vec1().unwrap();
        assert_eq!(got, vec![25.0, 4.0]);
    }
}
