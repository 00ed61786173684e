//! Soft-label distillation (Hinton, Vinyals, Dean 2015, "Distilling the Knowledge in a Neural
//! Network"): the student learns the teacher's next-token distributions at a temperature T.
//! Per position the loss is T² · H(p_T, q_T) with p_T = softmax(teacher logits / T) and
//! q_T = softmax(student logits / T); H(p, q) = KL(p ‖ q) + H(p), and H(p) does not depend on the
//! student, so the gradient is that of the KL. The T² keeps gradient magnitudes comparable across T.
//! Positions are weighted like the hard-label loss: 1/count within each record, padding 0.

use candle_core::{DType, Device, Tensor, D};

use crate::batch::Batch;
use crate::dpsgd::clip::param_grads;
use crate::model::{log_softmax_last, softmax_last, Gpt, Mode};
use crate::Result;

/// Gradient of Σ_records (mean over the record's positions of T² · H(p_T, q_T)) with respect to
/// the student's parameters; also returns that sum and the number of target positions.
/// `seqs` are full model inputs; the teacher sees exactly what the student sees.
pub(crate) fn soft_label_gradient(student: &Gpt, teacher: &Gpt, seqs: &[&[u32]], temperature: f64) -> Result<(Vec<Tensor>, f64, usize)> {
    let batch = Batch::new(seqs)?;
    let (b, t) = (batch.bsz, batch.t);
    let target = softmax_last(&(teacher.logits(&batch.ids)?.detach().to_dtype(DType::F64)? / temperature)?)?
        .to_dtype(student.dtype())?
        .to_device(student.device())?
        .detach();
    let logits = student.forward_with(&batch.ids, &mut Mode::Train, None, 0)?;
    let log_q = log_softmax_last(&(logits / temperature)?)?;
    let cross_entropy = (target * log_q)?.sum(D::Minus1)?.neg()?;
    let weights: Vec<f64> = (0..b * t)
        .map(|r| {
            let c = batch.counts[r / t];
            if r % t < c { temperature * temperature / c as f64 } else { 0.0 }
        })
        .collect();
    let weights = Tensor::from_vec(weights, (b, t), &Device::Cpu)?.to_dtype(student.dtype())?.to_device(student.device())?;
    let loss = (cross_entropy * weights)?.sum_all()?;
    let loss_sum = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    let grads = loss.backward()?;
    Ok((param_grads(student, &grads)?, loss_sum, batch.n_tokens()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::DType;

    fn tiny(seed: u64) -> Gpt {
        let cfg = crate::GptConfig { preset: "custom".into(), vocab_size: 23, context_length: 12, n_layer: 1, n_embd: 16, n_head: 2, mlp_ratio: 4, ln_eps: 1e-5 };
        Gpt::new(&cfg, DType::F64, seed).unwrap()
    }

    #[test]
    fn soft_label_loss_is_t_squared_cross_entropy_and_vanishes_against_itself() {
        let (student, teacher) = (tiny(1), tiny(2));
        let seqs: Vec<Vec<u32>> = vec![vec![1, 5, 7, 9, 2], vec![1, 4, 2]];
        let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
        let t = 2.5;
        let (grads, loss, tokens) = soft_label_gradient(&student, &teacher, &refs, t).unwrap();
        assert_eq!(tokens, 4 + 2);
        // Independent value: per record, mean over its positions of −T² Σ_v p_v log q_v, in f64 loops.
        let mut expected = 0.0;
        for s in &seqs {
            let ids = Tensor::new(&s[..s.len() - 1], &Device::Cpu).unwrap().unsqueeze(0).unwrap();
            let zs: Vec<Vec<f64>> = student.logits(&ids).unwrap().squeeze(0).unwrap().to_vec2().unwrap();
            let zt: Vec<Vec<f64>> = teacher.logits(&ids).unwrap().squeeze(0).unwrap().to_vec2().unwrap();
            let mut per = 0.0;
            for (a, b) in zs.iter().zip(&zt) {
                let lse = |z: &[f64]| z.iter().map(|x| (x / t).exp()).sum::<f64>().ln();
                let (la, lb) = (lse(a), lse(b));
                per += -b.iter().zip(a).map(|(zb, za)| (zb / t - lb).exp() * (za / t - la)).sum::<f64>();
            }
            expected += t * t * per / zs.len() as f64;
        }
        assert!((loss - expected).abs() < 1e-9 * expected.abs().max(1.0), "{loss} vs {expected}");
        assert!(grads.iter().any(|g| g.abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap() > 1e-4));
        // Against itself the soft labels are already matched: softmax(z/T) − p = 0, so no gradient.
        let (grads, _, _) = soft_label_gradient(&student, &student, &refs, t).unwrap();
        for g in grads {
            assert!(g.abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap() < 1e-10);
        }
    }
}
