//! DP-SGD (Abadi et al. 2016) with Poisson sampling, flat per-example clipping by ghost norms and
//! book-keeping, Gaussian noise from a secret CSPRNG, division by the expected batch size.

pub mod chacha;
pub mod clip;
pub mod engine;
pub mod noise;
